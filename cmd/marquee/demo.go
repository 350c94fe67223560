package main

import (
	"fmt"
	"log/slog"

	"marquee/demo"
	"marquee/imaging"
)

// demoDataDir is where `run --demo` keeps its state unless --data-dir names
// another place: apart from ./data, so that demo performers never mix with
// real ones.
const demoDataDir = "./data-demo"

// useDemo makes cfg the demo's after f parsed the command line: its own data
// dir, and the database and broker embedded there, unless --data-dir, --db,
// --db-replica or --kafka-brokers say otherwise; the generated feed; and no
// network opened to the compactor. The environment variables of these
// settings name where real data lives, so they do not apply: useDemo
// returns those that are set. --feed-url and the compactor's networks
// contradict the demo: a usage error.
func (c *Config) useDemo(f *flags) (ignored []string, err error) {
	for _, name := range []string{"feed-url", "images-allow-networks", "images-allow-private-networks"} {
		if f.given[name] {
			return nil, &usageError{fmt.Sprintf("--demo serves its own feed and fetches images only from it: drop --%s", name)}
		}
	}
	defaults := defaultConfig()
	for _, setting := range []struct {
		name  string
		reset func()
	}{
		{"data-dir", func() { c.DataDir = demoDataDir }},
		{"db", func() { c.DB = defaults.DB }},
		{"db-replica", func() { c.DBReplica = defaults.DBReplica }},
		{"kafka-brokers", func() { c.KafkaBrokers = defaults.KafkaBrokers }},
		// The demo source's URL, once it listens (startDemo).
		{"feed-url", func() { c.FeedURL = "" }},
		{"images-allow-networks", func() { c.ImagesAllowNetworks = "" }},
		{"images-allow-private-networks", func() { c.ImagesAllowPrivateNetworks = false }},
	} {
		if f.given[setting.name] {
			continue
		}
		if f.fromEnv[setting.name] {
			ignored = append(ignored, envName(setting.name))
		}
		setting.reset()
	}
	return ignored, nil
}

// startDemo starts the demo source in the data dir of cfg, points cfg's feed
// at it, and confines the image compactor of env to it: the confinement is
// applied last, so nothing else configured opens another address.
func startDemo(cfg *Config, env *environment, logger *slog.Logger) (*demo.Source, error) {
	source, err := demo.Start(cfg.DataDir, logger)
	if err != nil {
		return nil, err
	}
	cfg.FeedURL = source.FeedURL()
	configure := env.configureImaging
	env.configureImaging = func(icfg *imaging.Config) {
		if configure != nil {
			configure(icfg)
		}
		source.Confine(icfg)
	}
	logger.Info("demo: a generated feed and its images served on the loopback interface; the image compactor fetches from nowhere else",
		"feed_url", cfg.FeedURL, "performers", demo.Items)
	return source, nil
}
