package provisioning_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/roster-app/roster/provisioning"
	"github.com/roster-app/roster/store"
)

// BenchmarkSweep100k is the expiry sweep (grants and reminders) over
// 100,000 people with time-bound assignments of which none is due: what
// Roster does every ROSTER_EXPIRY_CHECK. It reads without taking the write
// lock.
func BenchmarkSweep100k(b *testing.B) {
	db, err := store.Open(filepath.Join(b.TempDir(), "roster.db"), store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	err = db.Update(context.Background(), func(tx provisioning.Tx) error {
		for i := range 100000 {
			email := fmt.Sprintf("person.%06d@example.com", i)
			a := provisioning.Assignment{ID: fmt.Sprintf("asg-%06d", i), Email: email, Source: provisioning.SourceRequest,
				GrantedBy: "U1", CreatedAt: now, ExpiresAt: now.Add(30 * 24 * time.Hour)}
			if err := tx.PutAssignments(email, []provisioning.Assignment{a}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	svc := provisioning.NewService(db, nil, nil, provisioning.Options{Now: func() time.Time { return now }})
	b.ResetTimer()
	for b.Loop() {
		ended, err := svc.ExpireAssignments(context.Background())
		if err != nil || len(ended) != 0 {
			b.Fatalf("ExpireAssignments() = %d, %v", len(ended), err)
		}
		rs, err := svc.DueReminders(context.Background())
		if err != nil || len(rs) != 0 {
			b.Fatalf("DueReminders() = %d, %v", len(rs), err)
		}
	}
}
