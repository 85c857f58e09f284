package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/slack-go/slack"

	"github.com/roster-app/roster/handlers"
	"github.com/roster-app/roster/provisioning"
)

// The directory sync keeps Roster's copy of the workspace directory (the
// store's members bucket and the in-memory provisioning.Directory that App
// Home reads) in step with Slack:
//
//   - Load, at start, fills the Directory from the store, so App Home
//     works at once after a restart, before Slack is asked anything;
//   - FullSync pages through users.list (after connecting, then
//     periodically) and replaces the copy;
//   - Apply takes each team_join and user_change event.
//
// An event that arrives while a full sync runs is not lost to the sync's
// older page of the same member: the fresher record (by Slack's
// "updated") wins in the store and in the Directory.

// usersLister is the part of *slack.Client that FullSync uses.
type usersLister interface {
	GetUsersPaginated(options ...slack.GetUsersOption) slack.UserPagination
}

// errSyncRunning is returned by FullSync when another full sync runs.
var errSyncRunning = errors.New("directory sync already running")

const (
	// usersListLimit is users.list's page size: Slack recommends no more
	// than 200 (slack-platform.md §3).
	usersListLimit = 200
	// syncRetries is how many times one page is retried after a server
	// or network error; 429s are waited out however often they come.
	syncRetries = 3
)

// directorySync moves members between Slack, the store and the Directory.
type directorySync struct {
	api usersLister
	db  provisioning.Store
	dir *provisioning.Directory
	log *slog.Logger
	now func() time.Time

	limit   int           // users.list page size
	backoff time.Duration // first wait before retrying a server or network error

	running sync.Mutex // held by FullSync

	// mu serialises Apply, Load and each store write of FullSync, so that
	// applied is read and written in step with the store.
	mu sync.Mutex
	// applied holds the members Apply stored while a FullSync runs (nil
	// otherwise): the sync must not overwrite them with older pages, nor
	// delete those who joined after their page was read.
	applied map[string]provisioning.Member
}

func newDirectorySync(api *slack.Client, db provisioning.Store, dir *provisioning.Directory, log *slog.Logger) *directorySync {
	return &directorySync{
		api: api, db: db, dir: dir, log: log, now: time.Now,
		limit: usersListLimit, backoff: time.Second,
	}
}

// Load fills the Directory with the members in the store and returns how
// many there are. Run it at start, before FullSync.
func (s *directorySync) Load(ctx context.Context) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ms []provisioning.Member
	err := s.db.View(ctx, func(tx provisioning.ReadTx) error {
		return tx.ForEachMember(func(m provisioning.Member) error {
			ms = append(ms, m)
			return nil
		})
	})
	if err != nil {
		return 0, fmt.Errorf("load directory: %w", err)
	}
	s.dir.Replace(ms)
	return len(ms), nil
}

// FullSync reads every member with users.list (limit 200, following the
// cursor), stores each page as it arrives, then removes the stored members
// Slack no longer lists and replaces the Directory. It returns the number
// of users.list calls made, retries included.
//
// A 429 is waited out (its Retry-After, at least a second) and the same
// page asked again; a 5xx or network error is retried up to three times
// with a growing wait. Any other error, or ctx ending, stops the sync: the
// pages stored so far stay stored (they are current), nothing is removed,
// and the Directory is left as it was. Only one FullSync runs at a time;
// another call meanwhile returns errSyncRunning.
func (s *directorySync) FullSync(ctx context.Context) (calls int, err error) {
	if !s.running.TryLock() {
		return 0, errSyncRunning
	}
	defer s.running.Unlock()
	start := s.now()

	s.mu.Lock()
	s.applied = map[string]provisioning.Member{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.applied = nil
		s.mu.Unlock()
	}()

	listed := map[string]provisioning.Member{} // as users.list showed them
	p := s.api.GetUsersPaginated(slack.GetUsersOptionLimit(s.limit), slack.GetUsersOptionIncludeLocale(false))
	for pages, failures := 0, 0; ; {
		next, err := p.Next(ctx)
		if p.Done(err) {
			break
		}
		calls++
		if err != nil {
			// On error Next returns p unchanged, so the retry asks for the
			// same cursor.
			wait, ok := s.retryWait(ctx, err, failures)
			if !ok {
				return calls, fmt.Errorf("users.list page %d: %w", pages+1, err)
			}
			if !isRateLimit(err) {
				failures++
			}
			s.log.InfoContext(ctx, "directory sync: users.list failed; retrying", "err", err, "wait", wait, "members", len(listed))
			if err := sleep(ctx, wait); err != nil {
				return calls, err
			}
			continue
		}
		pages, failures = pages+1, 0
		p = next
		page := make([]provisioning.Member, 0, len(p.Users))
		for _, u := range p.Users {
			m := handlers.MemberFromSlack(u)
			if m.ID == "" {
				continue
			}
			listed[m.ID] = m
			page = append(page, m)
		}
		if err := s.storePage(ctx, page); err != nil {
			return calls, err
		}
	}
	if len(listed) == 0 {
		// Slack always lists at least the bot itself: an empty answer is
		// a fault, not an empty workspace, and must not wipe the copy.
		return calls, errors.New("users.list returned no members")
	}

	removed, total, err := s.finish(ctx, listed)
	if err != nil {
		return calls, err
	}
	s.log.InfoContext(ctx, "directory synced", "members", total, "removed", removed,
		"calls", calls, "took", s.now().Sub(start).Round(time.Millisecond))
	return calls, nil
}

// storePage stores one page of users.list, except members Apply stored
// meanwhile with a fresher record.
func (s *directorySync) storePage(ctx context.Context, page []provisioning.Member) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, m := range page {
		page[i] = s.fresher(m)
	}
	err := s.db.Update(ctx, func(tx provisioning.Tx) error { return tx.PutMembers(page) })
	if err != nil {
		return fmt.Errorf("store %d members: %w", len(page), err)
	}
	return nil
}

// finish settles the members Apply stored during the sync, removes the
// members Slack no longer lists, and replaces the Directory, all while
// Apply waits. It returns the number removed and the number kept.
func (s *directorySync) finish(ctx context.Context, listed map[string]provisioning.Member) (removed, total int, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	keep := make(map[string]bool, len(listed)+len(s.applied))
	all := make([]provisioning.Member, 0, len(listed)+len(s.applied))
	for id, m := range listed {
		keep[id] = true
		all = append(all, s.fresher(m))
	}
	// Whichever of page and event was older may have been stored last;
	// store the fresher one. Members who joined after their page was read
	// are kept.
	var settled []provisioning.Member
	for id, m := range s.applied {
		if l, ok := listed[id]; ok {
			settled = append(settled, s.fresher(l))
			continue
		}
		keep[id] = true
		all = append(all, m)
		settled = append(settled, m)
	}
	err = s.db.Update(ctx, func(tx provisioning.Tx) error {
		if err := tx.PutMembers(settled); err != nil {
			return err
		}
		var err error
		removed, err = tx.DeleteMembersExcept(keep)
		return err
	})
	if err != nil {
		return 0, 0, fmt.Errorf("remove departed members: %w", err)
	}
	s.dir.Replace(all)
	return removed, len(all), nil
}

// fresher returns the record Apply stored during this sync for m's ID if
// it is at least as recent as m, else m. s.mu must be held.
func (s *directorySync) fresher(m provisioning.Member) provisioning.Member {
	if a, ok := s.applied[m.ID]; ok && a.Updated >= m.Updated {
		return a
	}
	return m
}

// Apply stores the member of a team_join or user_change event (a
// user_change with deleted:true marks them deactivated) and puts them in
// the Directory.
func (s *directorySync) Apply(ctx context.Context, u slack.User) error {
	m := handlers.MemberFromSlack(u)
	if m.ID == "" {
		return fmt.Errorf("apply member change: user without ID: %w", provisioning.ErrInvalid)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	err := s.db.Update(ctx, func(tx provisioning.Tx) error {
		return tx.PutMembers([]provisioning.Member{m})
	})
	if err != nil {
		return fmt.Errorf("apply member change %s: %w", m.ID, err)
	}
	s.dir.Put(m)
	if s.applied != nil {
		s.applied[m.ID] = m
	}
	return nil
}

// retryWait says whether err from users.list is worth retrying after
// failures earlier failures of the same page, and after how long.
func (s *directorySync) retryWait(ctx context.Context, err error, failures int) (time.Duration, bool) {
	if ctx.Err() != nil {
		return 0, false
	}
	if rl, ok := errors.AsType[*slack.RateLimitedError](err); ok {
		return max(rl.RetryAfter, time.Second), true
	}
	if failures >= syncRetries {
		return 0, false
	}
	wait := s.backoff << failures
	if sc, ok := errors.AsType[slack.StatusCodeError](err); ok {
		if sc.Code == 429 { // no Retry-After: Slack's windows are a minute
			return max(wait, 30*time.Second), true
		}
		return wait, sc.Retryable()
	}
	if _, ok := errors.AsType[net.Error](err); ok {
		return wait, true
	}
	return 0, false
}

func isRateLimit(err error) bool {
	_, ok := errors.AsType[*slack.RateLimitedError](err)
	return ok
}

// sleep waits for d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
