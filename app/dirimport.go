package app

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/roster-app/roster/provisioning"
)

// The import file (PRODUCT.md, "Directory"): CSV with a header row and the
// columns email, name, status (enabled/disabled), org_unit
// (/Engineering/Platform) and groups (names separated by ";"), or JSON, an
// array of objects with the same keys (groups an array). Only email is
// required; status defaults to enabled.

// importRecord is one person in an import file.
type importRecord struct {
	Email   string   `json:"email"`
	Name    string   `json:"name"`
	Status  string   `json:"status"`
	OrgUnit string   `json:"org_unit"`
	Groups  []string `json:"groups"`
}

var importColumns = []string{"email", "name", "status", "org_unit", "groups"}

// parseImport reads an import file and returns the directory change it
// describes. Any malformed record rejects the whole file, with its line
// number, so nothing is half-imported.
func parseImport(data []byte) (provisioning.DirectoryChange, error) {
	trimmed := bytes.TrimLeft(data, " \t\r\n\ufeff")
	var recs []importRecord
	var lines []int
	var err error
	if len(trimmed) > 0 && trimmed[0] == '[' {
		recs, lines, err = parseImportJSON(data)
	} else {
		recs, lines, err = parseImportCSV(data)
	}
	if err != nil {
		return provisioning.DirectoryChange{}, err
	}
	return importChange(recs, lines)
}

func parseImportCSV(data []byte) ([]importRecord, []int, error) {
	data = bytes.TrimPrefix(data, []byte("\ufeff"))
	r := csv.NewReader(bytes.NewReader(data))
	r.FieldsPerRecord = -1
	header, err := r.Read()
	if errors.Is(err, io.EOF) {
		return nil, nil, fmt.Errorf("the file is empty: it needs a header row (%s)", strings.Join(importColumns, ","))
	}
	if err != nil {
		return nil, nil, fmt.Errorf("line 1: %w", csvErr(err))
	}
	col := map[string]int{}
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(h))
		if !slices.Contains(importColumns, h) {
			return nil, nil, fmt.Errorf("line 1: unknown column %q; the columns are %s", h, strings.Join(importColumns, ", "))
		}
		if _, dup := col[h]; dup {
			return nil, nil, fmt.Errorf("line 1: column %q appears twice", h)
		}
		col[h] = i
	}
	if _, ok := col["email"]; !ok {
		return nil, nil, fmt.Errorf("line 1: the header has no email column")
	}
	var recs []importRecord
	var lines []int
	for {
		row, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, nil, csvErr(err)
		}
		line, _ := r.FieldPos(0)
		if len(row) != len(header) {
			return nil, nil, fmt.Errorf("line %d: %d fields, but the header has %d", line, len(row), len(header))
		}
		get := func(name string) string {
			if i, ok := col[name]; ok {
				return strings.TrimSpace(row[i])
			}
			return ""
		}
		rec := importRecord{Email: get("email"), Name: get("name"), Status: get("status"), OrgUnit: get("org_unit")}
		for _, g := range strings.Split(get("groups"), ";") {
			if g = strings.TrimSpace(g); g != "" {
				rec.Groups = append(rec.Groups, g)
			}
		}
		recs = append(recs, rec)
		lines = append(lines, line)
	}
	return recs, lines, nil
}

func csvErr(err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return fmt.Errorf("line %d: %v", pe.Line, pe.Err)
	}
	return err
}

// parseImportJSON decodes the array element by element, so that an error
// names the line of the element it is in.
func parseImportJSON(data []byte) ([]importRecord, []int, error) {
	lineAt := func(off int64) int { return 1 + bytes.Count(data[:min(int(off), len(data))], []byte("\n")) }
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if _, err := dec.Token(); err != nil {
		return nil, nil, fmt.Errorf("line %d: %v", lineAt(dec.InputOffset()), err)
	}
	var recs []importRecord
	var lines []int
	for dec.More() {
		start := dec.InputOffset()
		var rec importRecord
		if err := dec.Decode(&rec); err != nil {
			var se *json.SyntaxError
			if errors.As(err, &se) {
				return nil, nil, fmt.Errorf("line %d: %v", lineAt(se.Offset), err)
			}
			return nil, nil, fmt.Errorf("line %d: %v", lineAt(start)+leadingNewlines(data[start:]), err)
		}
		recs = append(recs, rec)
		lines = append(lines, lineAt(start)+leadingNewlines(data[start:]))
	}
	if _, err := dec.Token(); err != nil {
		return nil, nil, fmt.Errorf("line %d: %v", lineAt(dec.InputOffset()), err)
	}
	if rest, _ := io.ReadAll(dec.Buffered()); len(bytes.TrimSpace(rest)) > 0 {
		return nil, nil, fmt.Errorf("line %d: unexpected text after the array", lineAt(dec.InputOffset()))
	}
	return recs, lines, nil
}

// leadingNewlines counts the line breaks before the first non-space byte
// (json.Decoder's offset is before the separating comma and spaces).
func leadingNewlines(b []byte) int {
	n := 0
	for _, c := range b {
		switch c {
		case '\n':
			n++
		case ' ', '\t', '\r', ',':
		default:
			return n
		}
	}
	return n
}

// importChange validates the records and builds the change: one person per
// record, and the groups named in the records with their members.
func importChange(recs []importRecord, lines []int) (provisioning.DirectoryChange, error) {
	var ch provisioning.DirectoryChange
	seen := map[string]int{}
	groups := map[string]*provisioning.GroupInput{}
	var order []string
	for i, rec := range recs {
		line := lines[i]
		email, err := provisioning.NormalizeEmail(rec.Email)
		if err != nil {
			return ch, fmt.Errorf("line %d: %s", line, strings.TrimSuffix(err.Error(), ": "+provisioning.ErrInvalid.Error()))
		}
		if first, dup := seen[email]; dup {
			return ch, fmt.Errorf("line %d: %s appears again (first on line %d)", line, email, first)
		}
		seen[email] = line
		status := provisioning.PersonEnabled
		switch strings.ToLower(rec.Status) {
		case "", "enabled", "active", "true":
		case "disabled", "inactive", "false":
			status = provisioning.PersonDisabled
		default:
			return ch, fmt.Errorf("line %d: status %q: use enabled or disabled", line, rec.Status)
		}
		ou := rec.OrgUnit
		if ou != "" && !strings.HasPrefix(ou, "/") {
			return ch, fmt.Errorf("line %d: org_unit %q: write it as a path from the root, like /Engineering/Platform", line, ou)
		}
		ch.Upsert = append(ch.Upsert, provisioning.Person{Email: email, Name: rec.Name, Status: status, OrgUnit: ou})
		for _, g := range rec.Groups {
			if strings.TrimSpace(g) == "" {
				return ch, fmt.Errorf("line %d: an empty group name", line)
			}
			key := strings.ToLower(strings.TrimSpace(g))
			gi, ok := groups[key]
			if !ok {
				gi = &provisioning.GroupInput{Name: strings.TrimSpace(g)}
				groups[key] = gi
				order = append(order, key)
			}
			if !slices.Contains(gi.MemberEmails, email) {
				gi.MemberEmails = append(gi.MemberEmails, email)
			}
		}
	}
	for _, k := range order {
		ch.UpsertGroups = append(ch.UpsertGroups, *groups[k])
	}
	return ch, nil
}

// describeImport is the summary `roster directory import` prints.
func describeImport(res provisioning.DirectoryResult, dryRun bool) string {
	var b strings.Builder
	w := bufio.NewWriter(&b)
	verb := ""
	if dryRun {
		verb = "would be "
	}
	fmt.Fprintf(w, "people: %d %sadded, %d %supdated, %d %sdeleted\n", res.PeopleAdded, verb, res.PeopleUpdated, verb, res.PeopleDeleted, verb)
	fmt.Fprintf(w, "groups: %d %sadded, %d %supdated, %d %sdeleted\n", res.GroupsAdded, verb, res.GroupsUpdated, verb, res.GroupsDeleted, verb)
	list := func(title string, emails []string) {
		fmt.Fprintf(w, "%s: %d\n", title, len(emails))
		for i, e := range emails {
			if i == 50 {
				fmt.Fprintf(w, "  … and %d more\n", len(emails)-50)
				break
			}
			fmt.Fprintf(w, "  %s\n", e)
		}
	}
	list("gain access (invite or reactivate)", res.Invites)
	list("lose access (deactivate)", res.Deactivate)
	if res.Held != nil {
		fmt.Fprintf(w, "held: %d deactivations wait for an admin's confirmation in Roster's App Home (change %s)\n", len(res.Held.Emails), res.Held.ID)
	}
	w.Flush()
	return b.String()
}
