package provisioning_test

import (
	"fmt"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/roster-app/roster/provisioning"
)

// benchMembers is the size of the workspace PRODUCT.md names for App Home.
const benchMembers = 50_000

// searchMix is what an admin types into the App Home search, from one
// letter to a whole email, with the pages they open (App Home shows 20
// members a page). It includes the broadest single letters of
// GenerateMembers' names and queries that match nobody.
var searchMix = []struct {
	q      string
	offset int
}{
	{"", 0}, {"", 20}, {"", 24_980}, {"", 49_980}, // paging the whole directory
	{"a", 0}, {"a", 4_000}, {"l", 0}, {"t", 0}, {"g", 200}, // one letter: thousands of matches
	{"ad", 0}, {"ada", 0}, {"ada", 1_000}, {"lov", 0}, {"lovel", 40},
	{"ada lov", 0}, {"grace hop", 0}, {"hopper grace", 20},
	{"berners", 0}, {"berners-lee", 0}, {"lee", 0},
	{"ada.lovelace", 0}, {"grace.hopper.1", 0},
	{"linus.torvalds.4242@example.com", 0}, {"zz", 0}, {"ada zz", 0},
}

// BenchmarkDirectorySearch measures one Search (with its page of 20) over
// searchMix at 50,000 members and reports the median and the 99th
// percentile of single searches, beside the mean (ns/op).
func BenchmarkDirectorySearch(b *testing.B) {
	d := provisioning.NewDirectory()
	d.Replace(generated(benchMembers))
	if _, total := d.Search("linus.torvalds.4242@", 0, 20); total == 0 {
		b.Logf("note: the whole-email query in searchMix matches nobody with this seed")
	}
	var lat []time.Duration
	for i := 0; b.Loop(); i++ {
		s := searchMix[i%len(searchMix)]
		start := time.Now()
		d.Search(s.q, s.offset, 20)
		lat = append(lat, time.Since(start))
	}
	reportPercentiles(b, lat)
}

// BenchmarkDirectorySearchEach reports each query of searchMix on its own.
func BenchmarkDirectorySearchEach(b *testing.B) {
	d := provisioning.NewDirectory()
	d.Replace(generated(benchMembers))
	for _, s := range searchMix {
		_, total := d.Search(s.q, 0, 0)
		b.Run(fmt.Sprintf("q=%q/offset=%d/matches=%d", s.q, s.offset, total), func(b *testing.B) {
			for b.Loop() {
				d.Search(s.q, s.offset, 20)
			}
		})
	}
}

// BenchmarkDirectorySearchDuringPuts measures searches while another
// goroutine applies user_change events as fast as it can (each a rename,
// the most expensive Put), the worst case for the lock.
func BenchmarkDirectorySearchDuringPuts(b *testing.B) {
	d := provisioning.NewDirectory()
	ms := generated(benchMembers)
	d.Replace(ms)
	stop := make(chan struct{})
	done := make(chan int)
	go func() {
		n := 0
		for {
			select {
			case <-stop:
				done <- n
				return
			default:
			}
			m := ms[(n*7919)%len(ms)]
			m.RealName = fmt.Sprintf("Renamed %d", n)
			d.Put(m)
			n++
			time.Sleep(time.Millisecond) // about 1,000 events a second
		}
	}()
	var lat []time.Duration
	for i := 0; b.Loop(); i++ {
		s := searchMix[i%len(searchMix)]
		start := time.Now()
		d.Search(s.q, s.offset, 20)
		lat = append(lat, time.Since(start))
	}
	close(stop)
	puts := <-done
	reportPercentiles(b, lat)
	b.ReportMetric(float64(puts), "puts")
}

func reportPercentiles(b *testing.B, lat []time.Duration) {
	b.Helper()
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	at := func(p float64) float64 {
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Nanoseconds()) / 1e3
	}
	b.ReportMetric(at(0.50), "p50-µs")
	b.ReportMetric(at(0.99), "p99-µs")
	b.ReportMetric(float64(lat[len(lat)-1].Nanoseconds())/1e3, "max-µs")
}

// BenchmarkDirectoryMemory reports the live heap a directory of 50,000
// members holds, member data included (after Replace, the caller's slice
// is dropped, as Load and FullSync do), measured after GC.
func BenchmarkDirectoryMemory(b *testing.B) {
	var mb float64
	for b.Loop() {
		heap := func() uint64 {
			runtime.GC()
			runtime.GC()
			var s runtime.MemStats
			runtime.ReadMemStats(&s)
			return s.HeapAlloc
		}
		before := heap()
		d := provisioning.NewDirectory()
		d.Replace(generated(benchMembers))
		after := heap()
		mb = float64(int64(after)-int64(before)) / (1 << 20)
		runtime.KeepAlive(d)
	}
	b.ReportMetric(mb, "heap-MB")
	b.ReportMetric(mb*(1<<20)/benchMembers, "B/member")
}

// BenchmarkDirectoryReplace is the cost of installing a full sync's (or
// Load's) 50,000 members.
func BenchmarkDirectoryReplace(b *testing.B) {
	ms := generated(benchMembers)
	d := provisioning.NewDirectory()
	b.ReportAllocs()
	for b.Loop() {
		d.Replace(ms)
	}
}

// BenchmarkDirectoryPut is one user_change at 50,000 members: a status
// change (same names), a rename (new tokens, new place in the order) and a
// new member (team_join).
func BenchmarkDirectoryPut(b *testing.B) {
	ms := generated(benchMembers)
	cases := []struct {
		name   string
		change func(m provisioning.Member, i int) provisioning.Member
	}{
		{"deactivate", func(m provisioning.Member, i int) provisioning.Member { m.Deleted = i%2 == 0; return m }},
		{"rename", func(m provisioning.Member, i int) provisioning.Member {
			m.RealName = fmt.Sprintf("Renamed %d", i)
			return m
		}},
		{"join", func(m provisioning.Member, i int) provisioning.Member {
			m.ID, m.Email = fmt.Sprintf("UNEW%07d", i), fmt.Sprintf("new%d@example.com", i)
			return m
		}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			d := provisioning.NewDirectory()
			d.Replace(ms)
			for i := 0; b.Loop(); i++ {
				d.Put(c.change(ms[(i*7919)%len(ms)], i))
			}
		})
	}
}
