// Package ingest takes the performer feed into Marquee: fetching, streaming
// parse, normalisation, change detection and publishing, and the loader that
// writes published profiles to the database.
package ingest
