// Command roster is a self-hosted Slack app that decides who is a member of
// a Slack workspace. See README.md.
package main

import (
	"os"

	"github.com/roster-app/roster/app"
)

func main() {
	os.Exit(app.Main(os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}
