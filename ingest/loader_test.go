package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"marquee/bus"
	"marquee/db"
	"marquee/db/dbtest"
	"marquee/internal/samples"
	"marquee/internal/testkit"
)

// testProfile is a small valid profile; its content hash is filled in.
func testProfile(t testing.TB, feedID int64, name string) db.Profile {
	t.Helper()
	p := db.Profile{SchemaVersion: db.ProfileSchemaVersion, FeedID: feedID}
	p.Name = name
	p.Gender = ptr("female")
	p.Views = ptr(int64(4_200_000_000)) // 64-bit stats survive the trip
	p.Aliases = []string{name + " Alias"}
	url := fmt.Sprintf("https://ei.phncdn.com/pics/pornstars/000/000/%03d/(m=lciuhScOb_c)thumb_%d.jpg", feedID%1000, feedID)
	p.Thumbnails = []db.ProfileThumbnail{{Type: "pc", Width: ptr(int32(234)), Height: ptr(int32(344)), URL: url, URLHash: db.URLHash(url)}}
	p.ContentHash = p.ComputeContentHash()
	return p
}

// profileMessage is p as ingest publishes it.
func profileMessage(t testing.TB, p db.Profile) bus.Message {
	t.Helper()
	value, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	return bus.Message{Key: strconv.FormatInt(p.FeedID, 10), Value: value}
}

// performerState is what the database says of one feed id.
type performerState struct {
	exists, removed bool
	name            string
}

func (s performerState) String() string {
	switch {
	case !s.exists:
		return "absent"
	case s.removed:
		return fmt.Sprintf("removed (%q)", s.name)
	}
	return fmt.Sprintf("live %q", s.name)
}

var (
	absent  = performerState{}
	removed = performerState{exists: true, removed: true} // any name
)

func live(name string) performerState { return performerState{exists: true, name: name} }

func stateOf(t testing.TB, store *db.Store, feedID int64) performerState {
	t.Helper()
	p, err := store.GetByFeedID(context.Background(), feedID)
	if errors.Is(err, db.ErrNotFound) {
		return absent
	}
	if err != nil {
		t.Fatalf("get feed id %d: %v", feedID, err)
	}
	return performerState{exists: true, removed: p.RemovedAt != nil, name: p.Name}
}

func sameState(got, want performerState) bool {
	if want == removed {
		return got.exists && got.removed
	}
	return got == want
}

// deadWant is one expected dead letter: the batch index of the message and
// a part of the reason.
type deadWant struct {
	index      int
	reasonPart string
}

// numbered gives the messages of a batch distinct offsets, as a consumer
// delivers them, so a dead letter can be traced to its message.
func numbered(msgs ...bus.Message) []bus.Message {
	for i := range msgs {
		msgs[i].Topic, msgs[i].Partition, msgs[i].Offset = bus.TopicPornstars, 0, int64(1000+i)
	}
	return msgs
}

func checkDead(t *testing.T, batch []bus.Message, dead []bus.DeadLetter, want []deadWant) {
	t.Helper()
	if len(dead) != len(want) {
		for _, d := range dead {
			t.Logf("dead letter: key %q: %v", d.Message.Key, d.Err)
		}
		t.Fatalf("%d dead letters, want %d", len(dead), len(want))
	}
	for i, w := range want {
		d := dead[i]
		orig := batch[w.index]
		if d.Message.Key != orig.Key || d.Message.Offset != orig.Offset || string(d.Message.Value) != string(orig.Value) {
			t.Errorf("dead letter %d is key %q offset %d, want message %d (key %q offset %d) as received",
				i, d.Message.Key, d.Message.Offset, w.index, orig.Key, orig.Offset)
		}
		if !errors.Is(d.Err, ErrPoisonMessage) || !strings.Contains(d.Err.Error(), w.reasonPart) {
			t.Errorf("dead letter %d (key %q): error %v, want ErrPoisonMessage mentioning %q", i, orig.Key, d.Err, w.reasonPart)
		}
	}
}

// TestLoaderHandleProfiles applies batches of marquee.pornstars to a real
// store: for each feed id the batch's last message counts, and a message
// that can never be applied is dead-lettered while the rest of the batch is.
func TestLoaderHandleProfiles(t *testing.T) {
	t.Parallel()
	prof := func(id int64, name string) bus.Message { return profileMessage(t, testProfile(t, id, name)) }
	tomb := func(id int64) bus.Message { return bus.Message{Key: strconv.FormatInt(id, 10)} }
	withProfile := func(id int64, change func(*db.Profile)) bus.Message {
		p := testProfile(t, id, "Poison")
		change(&p)
		m := profileMessage(t, p)
		m.Key = strconv.FormatInt(id, 10)
		return m
	}
	tests := []struct {
		name     string
		before   []bus.Message // applied in an earlier batch
		batch    []bus.Message
		wantDead []deadWant
		want     map[int64]performerState
	}{
		{"a new profile is inserted", nil,
			[]bus.Message{prof(101, "Ann")}, nil,
			map[int64]performerState{101: live("Ann")}},
		{"a changed profile replaces the stored one", []bus.Message{prof(111, "Bea")},
			[]bus.Message{prof(111, "Bea Two")}, nil,
			map[int64]performerState{111: live("Bea Two")}},
		{"a tombstone marks the performer removed", []bus.Message{prof(121, "Cat")},
			[]bus.Message{tomb(121)}, nil,
			map[int64]performerState{121: removed}},
		{"profile then tombstone in one batch ends removed", []bus.Message{prof(131, "Dee")},
			[]bus.Message{prof(131, "Dee Two"), tomb(131)}, nil,
			map[int64]performerState{131: removed}},
		{"tombstone then profile in one batch ends present", []bus.Message{prof(141, "Eve")},
			[]bus.Message{tomb(141), prof(141, "Eve Two")}, nil,
			map[int64]performerState{141: live("Eve Two")}},
		{"an unchanged profile restores a removed performer", []bus.Message{prof(151, "Fay"), tomb(151)},
			[]bus.Message{prof(151, "Fay")}, nil,
			map[int64]performerState{151: live("Fay")}},
		{"a tombstone for an unknown performer changes nothing", nil,
			[]bus.Message{tomb(161)}, nil,
			map[int64]performerState{161: absent}},
		{"profile and tombstone of a new performer in one batch: never live", nil,
			[]bus.Message{prof(171, "Gia"), tomb(171)}, nil,
			map[int64]performerState{171: absent}},
		{"poison: key is not a number", nil,
			[]bus.Message{{Key: "abc", Value: prof(181, "Hal").Value}, prof(182, "Ida")}, []deadWant{{0, `key "abc" is not a feed id`}},
			map[int64]performerState{181: absent, 182: live("Ida")}},
		{"poison: key is not a positive id", nil,
			[]bus.Message{prof(191, "Jo"), {Key: "-5", Value: prof(191, "Jo").Value}}, []deadWant{{1, `key "-5" is not a feed id`}},
			map[int64]performerState{191: live("Jo")}},
		{"poison: value is not JSON", nil,
			[]bus.Message{{Key: "201", Value: []byte(`{"feed_id":201,"name":`)}, prof(202, "Kim")}, []deadWant{{0, "value is not a profile"}},
			map[int64]performerState{201: absent, 202: live("Kim")}},
		{"poison: schema_version newer than this loader's", nil,
			[]bus.Message{withProfile(211, func(p *db.Profile) { p.SchemaVersion = db.ProfileSchemaVersion + 1 }), prof(212, "Lea")},
			[]deadWant{{0, fmt.Sprintf("schema_version %d is newer", db.ProfileSchemaVersion+1)}},
			map[int64]performerState{211: absent, 212: live("Lea")}},
		{"poison: feed_id does not match the key", nil,
			[]bus.Message{{Key: "221", Value: prof(222, "Mia").Value}, prof(223, "Nia")}, []deadWant{{0, `feed_id 222 does not match the key "221"`}},
			map[int64]performerState{221: absent, 222: absent, 223: live("Nia")}},
		{"poison: a name longer than the store allows", []bus.Message{prof(231, "Ola")},
			[]bus.Message{withProfile(231, func(p *db.Profile) { p.Name = strings.Repeat("x", 300) }), prof(232, "Pia")},
			[]deadWant{{0, "name is 300 characters long"}},
			map[int64]performerState{231: live("Ola"), 232: live("Pia")}},
		{"poison: a profile the store refuses", nil,
			[]bus.Message{prof(241, "Quin"), withProfile(242, func(p *db.Profile) { p.ContentHash = "abc" }), prof(243, "Rae")},
			[]deadWant{{1, "content_hash"}},
			map[int64]performerState{241: live("Quin"), 242: absent, 243: live("Rae")}},
		// MySQL compares alias_key with PAD SPACE: a batch stuck on a
		// unique-key conflict would be retried for ever.
		{"aliases that differ only by trailing spaces", nil,
			[]bus.Message{withProfile(261, func(p *db.Profile) {
				p.Name, p.Aliases, p.ContentHash = "Wren", []string{"Wren B", "wren b "}, ""
			}), prof(262, "Xia")}, nil,
			map[int64]performerState{261: live("Wren"), 262: live("Xia")}},
		{"poison tombstone: key is not a number", []bus.Message{prof(251, "Sue")},
			[]bus.Message{{Key: "x251"}, tomb(251)}, []deadWant{{0, `key "x251" is not a feed id`}},
			map[int64]performerState{251: removed}},
	}
	for _, backend := range dbtest.Backends() {
		t.Run(backend.Name, func(t *testing.T) {
			t.Parallel()
			store := testkit.OpenStore(t, backend.URL(t))
			loader := &Loader{Store: store, Logger: quietLogger()}
			ctx := context.Background()
			for _, tt := range tests { // sequential: each case has feed ids of its own
				t.Run(tt.name, func(t *testing.T) {
					for _, m := range tt.before {
						if dead, err := loader.HandleProfiles(ctx, []bus.Message{m}); err != nil || len(dead) != 0 {
							t.Fatalf("set-up message %s: dead %v, error %v", m.Key, dead, err)
						}
					}
					batch := numbered(tt.batch...)
					dead, err := loader.HandleProfiles(ctx, batch)
					if err != nil {
						t.Fatalf("HandleProfiles: %v: the consumer would retry this batch for ever", err)
					}
					checkDead(t, batch, dead, tt.wantDead)
					for id, want := range tt.want {
						if got := stateOf(t, store, id); !sameState(got, want) {
							t.Errorf("feed id %d is %s, want %s", id, got, want)
						}
					}
				})
			}

			t.Run("a batch delivered again changes nothing", func(t *testing.T) {
				if _, err := loader.HandleProfiles(ctx, []bus.Message{prof(302, "Uma")}); err != nil {
					t.Fatal(err)
				}
				batch := numbered(prof(301, "Tia"), tomb(302))
				versions := func() (v [2]int64) {
					for i, id := range []int64{301, 302} {
						p, err := store.GetByFeedID(ctx, id)
						if err != nil {
							t.Fatal(err)
						}
						v[i] = p.Version
					}
					return v
				}
				deliver := func() {
					if dead, err := loader.HandleProfiles(ctx, batch); err != nil || len(dead) != 0 {
						t.Fatalf("dead %v, error %v", dead, err)
					}
				}
				deliver()
				first := versions()
				deliver()
				if again := versions(); again != first {
					t.Errorf("versions %v after the first delivery, %v after the second: want no write", first, again)
				}
				if got := stateOf(t, store, 302); !sameState(got, removed) {
					t.Errorf("feed id 302 is %s, want removed", got)
				}
			})
		})
	}
}

// TestLoaderHandleImages applies marquee.images outcomes: valid ones are
// stored, undecodable ones are dead-lettered and the rest still applied.
func TestLoaderHandleImages(t *testing.T) {
	t.Parallel()
	fetched := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	outcome := func(n int, status string) (string, bus.Message) {
		url := fmt.Sprintf("https://ei.phncdn.com/pics/pornstars/(m=x)thumb_%d.jpg", n)
		st := imageOutcome(db.URLHash(url), url, status, fetched)
		if status == db.ImageCached {
			st.ContentSHA256, st.ContentType = ptr(strings.Repeat("ab", 32)), ptr("image/jpeg")
			st.Bytes, st.Width, st.Height = ptr(int64(12345)), ptr(int32(234)), ptr(int32(344))
		}
		value, err := json.Marshal(st)
		if err != nil {
			t.Fatal(err)
		}
		return st.URLHash, bus.Message{Topic: bus.TopicImages, Key: st.URLHash, Value: value}
	}
	hashCached, cached := outcome(1, db.ImageCached)
	hashFailed, failed := outcome(2, db.ImageFailed)
	hashOther, other := outcome(3, db.ImageCached)
	tests := []struct {
		name       string
		batch      []bus.Message
		wantDead   []deadWant
		wantStored map[string]string // url hash -> status; "" for no row
	}{
		{"cached and failed outcomes are stored", []bus.Message{cached, failed}, nil,
			map[string]string{hashCached: db.ImageCached, hashFailed: db.ImageFailed}},
		{"poison: a tombstone", []bus.Message{{Topic: bus.TopicImages, Key: hashOther}, cached},
			[]deadWant{{0, "tombstone"}}, map[string]string{hashOther: "", hashCached: db.ImageCached}},
		{"poison: value is not JSON", []bus.Message{{Topic: bus.TopicImages, Key: hashOther, Value: []byte(`{"url_hash":`)}, failed},
			[]deadWant{{0, "not an image outcome"}}, map[string]string{hashOther: "", hashFailed: db.ImageFailed}},
		{"poison: url_hash does not match the key", []bus.Message{{Topic: bus.TopicImages, Key: hashCached, Value: other.Value}, cached},
			[]deadWant{{0, "does not match the key"}}, map[string]string{hashOther: "", hashCached: db.ImageCached}},
		{"poison: an unknown status", []bus.Message{{Topic: bus.TopicImages, Key: hashOther,
			Value: []byte(strings.Replace(string(other.Value), `"status":"cached"`, `"status":"done"`, 1))}, cached},
			[]deadWant{{0, "status"}}, map[string]string{hashOther: "", hashCached: db.ImageCached}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			store := sqliteStore(t)
			loader := &Loader{Store: store, Logger: quietLogger()}
			batch := make([]bus.Message, len(tt.batch))
			for i, m := range tt.batch {
				m.Offset = int64(i)
				batch[i] = m
			}
			dead, err := loader.HandleImages(context.Background(), batch)
			if err != nil {
				t.Fatalf("HandleImages: %v", err)
			}
			checkDead(t, batch, dead, tt.wantDead)
			hashes := make([]string, 0, len(tt.wantStored))
			for h := range tt.wantStored {
				hashes = append(hashes, h)
			}
			images, err := store.Images(context.Background(), hashes)
			if err != nil {
				t.Fatal(err)
			}
			for hash, want := range tt.wantStored {
				if got := images[hash].Status; got != want {
					t.Errorf("image %.12s: status %q, want %q", hash, got, want)
				}
			}
		})
	}
}

// TestLoaderDatabaseFailure: when the database fails, a handler returns an
// error and no dead letters, so the consumer retries the whole batch and no
// message is lost or dead-lettered for an outage.
func TestLoaderDatabaseFailure(t *testing.T) {
	t.Parallel()
	store := sqliteStore(t)
	if err := store.DB().Close(); err != nil {
		t.Fatal(err)
	}
	loader := &Loader{Store: store, Logger: quietLogger()}
	good := profileMessage(t, testProfile(t, 7, "Vi"))
	url := "https://ei.phncdn.com/pics/pornstars/thumb_7.jpg"
	value, err := json.Marshal(imageOutcome(db.URLHash(url), url, db.ImageFailed, time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	image := bus.Message{Key: db.URLHash(url), Value: value}
	tests := []struct {
		name   string
		handle bus.Handler
		batch  []bus.Message
	}{
		{"profiles", loader.HandleProfiles, []bus.Message{good, {Key: "abc", Value: good.Value}}},
		{"tombstones only", loader.HandleProfiles, []bus.Message{{Key: "7"}, {Key: "8"}}},
		{"images", loader.HandleImages, []bus.Message{image, {Key: "x", Value: []byte("{")}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dead, err := tt.handle(context.Background(), tt.batch)
			if err == nil {
				t.Fatalf("no error from a closed database")
			}
			if errors.Is(err, ErrPoisonMessage) {
				t.Errorf("error %v marks the batch poison: it would be dead-lettered, not retried", err)
			}
			if len(dead) != 0 {
				t.Errorf("%d dead letters with a failed batch: the consumer would publish them and retry the rest", len(dead))
			}
		})
	}
}

// TestLoaderThroughConsumer runs the loader as `marquee load` does, behind a
// consumer group on the in-process broker: a feed run's profiles are loaded
// until the database equals the feed, and the poison messages among them end
// in marquee.pornstars.dlq with where and why they failed.
func TestLoaderThroughConsumer(t *testing.T) {
	t.Parallel()
	feed := samples.Head.Read(t)
	store := sqliteStore(t)
	kafka := startKafka(t)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()

	poison := []bus.Message{
		{Key: "not-a-feed-id", Value: []byte(`{"feed_id":1}`)},
		{Key: "999999901", Value: []byte(`{"feed_id":999999901,"name":`)},
	}
	if err := kafka.writer.Publish(ctx, bus.TopicPornstars, poison[:1]...); err != nil {
		t.Fatal(err)
	}
	runner := newTestRunner(store, kafka.writer, writeTemp(t, "feed.json", feed))
	if _, row := runFeed(t, store, runner, false); row.Status != db.RunCompleted || row.ItemsChanged != 100 {
		t.Fatalf("feed run: %s, changed %d", row.Status, row.ItemsChanged)
	}
	if err := kafka.writer.Publish(ctx, bus.TopicPornstars, poison[1:]...); err != nil {
		t.Fatal(err)
	}
	sources := map[string]bus.Message{} // where each poison message landed
	for _, m := range kafka.since(t, bus.TopicPornstars, nil) {
		if m.Key == poison[0].Key || m.Key == poison[1].Key {
			sources[m.Key] = m
		}
	}
	startedAt := time.Now().UTC().Truncate(time.Second)

	const group = "ingest-test-loader"
	consumer, err := bus.NewConsumer(bus.ConsumerConfig{
		Cluster: bus.Cluster{Brokers: kafka.brokers}, GroupID: group, Topic: bus.TopicPornstars,
		MaxBatch: 40, MaxWait: 50 * time.Millisecond, FetchWait: 100 * time.Millisecond,
		SessionTimeout: 6 * time.Second, HeartbeatInterval: 300 * time.Millisecond,
		RetryBackoffMin: 10 * time.Millisecond, RetryBackoffMax: 100 * time.Millisecond,
		DeadLetters: kafka.writer, Logger: quietLogger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	loader := &Loader{Store: store, Logger: quietLogger()}
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- consumer.Run(runCtx, loader.HandleProfiles) }()
	defer func() {
		stop()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("consumer: %v", err)
			}
		case <-time.After(testTimeout):
			t.Errorf("consumer did not stop")
		}
	}()

	for {
		lag, err := bus.Lag(ctx, bus.Cluster{Brokers: kafka.brokers}, group, bus.TopicPornstars)
		if err == nil && lag == 0 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the loader never caught up: lag %d, error %v", lag, err)
		case <-time.After(50 * time.Millisecond):
		}
	}

	diffs, _, err := Verify(ctx, store, strings.NewReader(string(feed)))
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range diffs {
		t.Errorf("database differs from the feed: %s", d)
	}
	if stats := consumer.Stats(); stats.DeadLettered != 2 {
		t.Errorf("consumer dead-lettered %d messages, want 2", stats.DeadLettered)
	}

	letters := kafka.since(t, bus.DeadLetterTopic(bus.TopicPornstars), nil)
	if len(letters) != len(poison) {
		t.Fatalf("%d messages on %s, want %d", len(letters), bus.DeadLetterTopic(bus.TopicPornstars), len(poison))
	}
	for _, letter := range letters {
		src, ok := sources[letter.Key]
		if !ok {
			t.Errorf("dead letter with key %q, which is no poison message", letter.Key)
			continue
		}
		if string(letter.Value) != string(src.Value) {
			t.Errorf("dead letter %q: value %q, want the original %q", letter.Key, letter.Value, src.Value)
		}
		want := map[string]string{
			bus.HeaderContentType:     bus.ContentTypeJSON,
			bus.HeaderSourceTopic:     bus.TopicPornstars,
			bus.HeaderSourcePartition: strconv.Itoa(src.Partition),
			bus.HeaderSourceOffset:    strconv.FormatInt(src.Offset, 10),
		}
		for name, value := range want {
			if got, _ := letter.Header(name); got != value {
				t.Errorf("dead letter %q: header %s = %q, want %q", letter.Key, name, got, value)
			}
		}
		if reason, _ := letter.Header(bus.HeaderError); !strings.Contains(reason, ErrPoisonMessage.Error()) {
			t.Errorf("dead letter %q: error header %q, want the reason", letter.Key, reason)
		}
		stamp, _ := letter.Header(bus.HeaderFailedAt)
		failedAt, err := time.Parse(time.RFC3339, stamp)
		if err != nil || failedAt.Before(startedAt) || failedAt.After(time.Now().Add(time.Minute)) {
			t.Errorf("dead letter %q: failed-at %q, want an RFC 3339 time of this test", letter.Key, stamp)
		}
	}
}

// TestLoaderReplacesInvalidValues: a profile published before the field
// rules existed (a negative count, a negative thumbnail width) is loaded
// with those values unknown, not dead-lettered.
func TestLoaderReplacesInvalidValues(t *testing.T) {
	t.Parallel()
	for _, backend := range dbtest.Backends() {
		t.Run(backend.Name, func(t *testing.T) {
			t.Parallel()
			store := testkit.OpenStore(t, backend.URL(t))
			loader := &Loader{Store: store, Logger: quietLogger()}
			old := testProfile(t, 401, "Old")
			old.Age, old.Rank, old.Thumbnails[0].Width = ptr(int32(-30)), ptr(int64(-2)), ptr(int32(-234))
			dead, err := loader.HandleProfiles(context.Background(), numbered(profileMessage(t, old)))
			if err != nil || len(dead) != 0 {
				t.Fatalf("dead %v, error %v", dead, err)
			}
			got, err := store.GetByFeedID(context.Background(), 401)
			if err != nil {
				t.Fatal(err)
			}
			thumbs, err := store.ThumbnailsFromPrimary(context.Background(), []int64{got.ID})
			if err != nil {
				t.Fatal(err)
			}
			if got.Age != nil || got.Rank != nil || *got.Views != *old.Views || len(thumbs[got.ID]) != 1 || thumbs[got.ID][0].Width != nil {
				t.Errorf("loaded age %s, rank %s, views %s, thumbnails %+v; want age, rank and width unknown, the rest kept",
					show(got.Age), show(got.Rank), show(got.Views), thumbs[got.ID])
			}
		})
	}
}
