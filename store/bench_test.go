package store

import (
	"fmt"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/roster-app/roster/provisioning"
)

// BenchmarkEnqueueJob measures one Update shaped like a real assign: read
// the person's assignments, add one, coalesce or enqueue a job, audit.
// Every op commits, so it is dominated by bbolt's fsync.
func BenchmarkEnqueueJob(b *testing.B) {
	d := openTest(b)
	i := 0
	for b.Loop() {
		email := fmt.Sprintf("user%07d@example.com", i)
		i++
		err := d.Update(b.Context(), func(tx provisioning.Tx) error {
			as, err := tx.Assignments(email)
			if err != nil {
				return err
			}
			id, err := tx.NewID("asg")
			if err != nil {
				return err
			}
			as = append(as, provisioning.Assignment{ID: id, Email: email, Source: provisioning.SourceDirect, GrantedBy: "U0123456", CreatedAt: t0})
			if err := tx.PutAssignments(email, as); err != nil {
				return err
			}
			if _, ok, err := tx.PendingJob(email); err != nil || ok {
				return err
			}
			jid, err := tx.NewID("job")
			if err != nil {
				return err
			}
			j := provisioning.Job{ID: jid, Email: email, Intent: provisioning.ActionInvite, State: provisioning.JobPending,
				NextAttempt: t0, StartedBy: "U0123456", CreatedAt: t0, UpdatedAt: t0}
			if err := tx.PutJob(j); err != nil {
				return err
			}
			_, err = tx.AppendAudit(provisioning.AuditEvent{At: t0, Actor: "U0123456", Action: "assign", Email: email, Outcome: "ok", Detail: "direct, job " + jid})
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPutAssignments measures one Update that replaces one person's
// assignment list.
func BenchmarkPutAssignments(b *testing.B) {
	d := openTest(b)
	i := 0
	for b.Loop() {
		email := fmt.Sprintf("user%07d@example.com", i%1000)
		i++
		err := d.Update(b.Context(), func(tx provisioning.Tx) error {
			return tx.PutAssignments(email, []provisioning.Assignment{
				{ID: fmt.Sprint("asg-", i), Email: email, Source: provisioning.SourceGroup, Ref: "engineering", GrantedBy: "system", CreatedAt: t0},
			})
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDueJobs reads the due jobs out of 10,000 pending ones, half of
// them due.
func BenchmarkDueJobs(b *testing.B) {
	d := openTest(b)
	const pending = 10_000
	err := d.Update(b.Context(), func(tx provisioning.Tx) error {
		for i := range pending {
			id, err := tx.NewID("job")
			if err != nil {
				return err
			}
			j := provisioning.Job{ID: id, Email: fmt.Sprintf("user%07d@example.com", i), Intent: provisioning.ActionInvite,
				State: provisioning.JobPending, NextAttempt: t0.Add(time.Duration(i) * time.Second), StartedBy: "system", CreatedAt: t0}
			if err := tx.PutJob(j); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	now := t0.Add(pending / 2 * time.Second)
	for _, limit := range []int{10, 100, 1000} {
		b.Run(fmt.Sprint("limit=", limit), func(b *testing.B) {
			for b.Loop() {
				err := d.View(b.Context(), func(tx provisioning.ReadTx) error {
					jobs, err := tx.DueJobs(now, limit)
					if len(jobs) != limit {
						return fmt.Errorf("DueJobs returned %d jobs, want %d", len(jobs), limit)
					}
					return err
				})
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("NextDue", func(b *testing.B) {
		for b.Loop() {
			err := d.View(b.Context(), func(tx provisioning.ReadTx) error {
				_, _, err := tx.NextDue()
				return err
			})
			if err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkLoad100kAssignments walks 100,000 people's assignments (one or
// two each) with ForEachAssignments, keeping them all in a map as a
// reconcile would. It reports the file size and the heap the map holds.
func BenchmarkLoad100kAssignments(b *testing.B) {
	const people = 100_000
	d := openTest(b)
	for start := 0; start < people; start += 10_000 {
		err := d.Update(b.Context(), func(tx provisioning.Tx) error {
			for i := start; i < start+10_000; i++ {
				email := fmt.Sprintf("user%07d@example.com", i)
				as := []provisioning.Assignment{{ID: fmt.Sprintf("asg-%012x", 2*i), Email: email, Source: provisioning.SourceGroup,
					Ref: "engineering", GrantedBy: "system", CreatedAt: t0}}
				if i%2 == 0 {
					as = append(as, provisioning.Assignment{ID: fmt.Sprintf("asg-%012x", 2*i+1), Email: email, Source: provisioning.SourceRequest,
						Ref: "req-000000000001", GrantedBy: "U0123456", Reason: "contractor", CreatedAt: t0, ExpiresAt: t0.Add(90 * 24 * time.Hour)})
				}
				if err := tx.PutAssignments(email, as); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	fi, err := os.Stat(d.Path())
	if err != nil {
		b.Fatal(err)
	}

	var heap uint64
	for b.Loop() {
		var before, after runtime.MemStats
		b.StopTimer()
		runtime.GC()
		runtime.ReadMemStats(&before)
		b.StartTimer()
		all := make(map[string][]provisioning.Assignment)
		err := d.View(b.Context(), func(tx provisioning.ReadTx) error {
			return tx.ForEachAssignments(func(email string, as []provisioning.Assignment) error {
				all[email] = as
				return nil
			})
		})
		if err != nil {
			b.Fatal(err)
		}
		if len(all) != people {
			b.Fatalf("walked %d people, want %d", len(all), people)
		}
		b.StopTimer()
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.StartTimer()
		heap = after.HeapInuse - min(before.HeapInuse, after.HeapInuse)
		runtime.KeepAlive(all)
	}
	b.ReportMetric(float64(fi.Size())/1e6, "file-MB")
	b.ReportMetric(float64(heap)/1e6, "heap-MB")
}
