DROP INDEX pornstars_version{{call .OnTable "pornstars"}}
