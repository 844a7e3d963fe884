package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/arbormls/mls/dsclient"
)

// maxLine bounds a line typed into chat; the server takes messages up to
// 1 MiB by default, and a chat line is far shorter.
const maxLine = 16 << 10

func cmdChat(args []string, out io.Writer) error {
	c := newCommand("chat", "--state DIR --group NAME",
		"Chat in the group NAME through the Delivery Service the client registered\n"+
			"with (mls ds register): print the conversation as it arrives, one line per\n"+
			"message (\"alice: hello\") and a line per member who joins or leaves\n"+
			"(\"* bob joined\"), and send each line typed on standard input. Messages of\n"+
			"other groups show with a [NAME] prefix. Before an invitation arrives, it\n"+
			"waits and joins from the Welcome. State is saved after every step. Ends at\n"+
			"the end of standard input. The state folder stays locked meanwhile.")
	state := c.stateFlag()
	name := c.groupNameFlag()
	if err := c.parse(args, out, "state", "group"); err != nil {
		return err
	}
	s, gid, err := openGroupSession(*state, *name)
	if err != nil {
		return err
	}
	defer s.close()
	return s.chat(gid, os.Stdin, out, os.Stderr)
}

// poll is one answer of the inbox.
type poll struct {
	msgs []dsclient.InboxMessage
	err  error
}

// chat runs the chat of group gid: one loop does every step on the state
// (sending a typed line, processing an inbox page) so that steps never
// interleave; a goroutine reads lines, another long-polls the inbox.
func (s *session) chat(gid []byte, in io.Reader, out, errOut io.Writer) error {
	name := string(gid)
	g, err := s.group(gid)
	if err != nil {
		return err
	}
	switch {
	case g == nil:
		fmt.Fprintf(out, "* waiting for an invitation to %s\n", name)
	case !g.Active():
		fmt.Fprintf(out, "* you are no longer in %s\n", name)
	default:
		fmt.Fprintf(out, "* members of %s: %s\n", name, sanitize(strings.Join(names(g.Members()), ", ")))
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	lines := make(chan string)
	go readLines(in, lines, errOut)
	polls := make(chan poll)
	processed := make(chan struct{}, 1)
	go s.poll(ctx, polls, processed)

	show := func(evs []event) {
		for _, ev := range evs {
			printEvent(out, errOut, name, ev)
		}
	}
	lastErr := ""
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				return nil
			}
			if g, _ := s.group(gid); g == nil {
				fmt.Fprintf(errOut, "mls: not sent: not in %s yet (waiting for an invitation)\n", name)
				continue
			}
			sctx, scancel := context.WithTimeout(ctx, 2*requestTimeout)
			_, evs, err := s.send(sctx, gid, []byte(line))
			scancel()
			show(evs)
			if err != nil {
				fmt.Fprintf(errOut, "mls: not sent: %v\n", err)
			}
		case p := <-polls:
			if p.err != nil {
				var herr *dsclient.Error
				if errors.As(p.err, &herr) && herr.Status < 500 && herr.Status != http.StatusTooManyRequests {
					// Refused: asking again will not help.
					return p.err
				}
				if msg := p.err.Error(); msg != lastErr {
					fmt.Fprintf(errOut, "mls: %s; retrying\n", msg)
					lastErr = msg
				}
			} else {
				lastErr = ""
				pctx, pcancel := context.WithTimeout(ctx, requestTimeout)
				evs, err := s.processAll(pctx, p.msgs)
				pcancel()
				show(evs)
				if err != nil {
					return err
				}
			}
			processed <- struct{}{}
		}
	}
}

// poll long-polls the inbox from the processed cursor, handing each
// answer to the chat loop and waiting until it is processed before asking
// again.
func (s *session) poll(ctx context.Context, polls chan<- poll, processed <-chan struct{}) {
	for {
		pctx, cancel := context.WithTimeout(ctx, chatWait+requestTimeout)
		msgs, err := s.ds.Inbox(pctx, s.cursor.Load(), chatWait)
		cancel()
		if ctx.Err() != nil {
			return
		}
		select {
		case polls <- poll{msgs, err}:
		case <-ctx.Done():
			return
		}
		select {
		case <-processed:
		case <-ctx.Done():
			return
		}
		if err != nil {
			// The server is away: ask again a little later.
			select {
			case <-time.After(2 * time.Second):
			case <-ctx.Done():
				return
			}
		}
	}
}

// readLines sends the non-blank lines of in, without their line ending,
// and closes lines at the end of in. A line longer than maxLine is
// dropped with a warning.
func readLines(in io.Reader, lines chan<- string, errOut io.Writer) {
	defer close(lines)
	r := bufio.NewReaderSize(in, 4096)
	var line []byte
	tooLong := false
	for {
		chunk, isPrefix, err := r.ReadLine()
		if err != nil {
			return
		}
		if !tooLong {
			line = append(line, chunk...)
			if len(line) > maxLine {
				tooLong, line = true, nil
				fmt.Fprintf(errOut, "mls: not sent: line longer than %d bytes\n", maxLine)
			}
		}
		if isPrefix {
			continue
		}
		if !tooLong && strings.TrimSpace(string(line)) != "" {
			lines <- string(line)
		}
		line, tooLong = line[:0], false
	}
}

// printEvent prints ev as chat lines: the conversation on out, refused
// messages on errOut. Lines of groups other than current have a [NAME]
// prefix.
func printEvent(out, errOut io.Writer, current string, ev event) {
	prefix := ""
	if ev.Group != current {
		prefix = "[" + sanitize(ev.Group) + "] "
	}
	switch ev.Kind {
	case "error":
		fmt.Fprintf(errOut, "mls: %sinbox message %d skipped: %s\n", prefix, ev.Seq, sanitize(ev.Error))
	case "message":
		text := sanitize(ev.Text)
		if ev.DataHex != "" {
			text = fmt.Sprintf("(%d bytes of binary data)", len(ev.DataHex)/2)
		}
		fmt.Fprintf(out, "%s%s: %s\n", prefix, sanitize(ev.From), text)
	case "joined":
		fmt.Fprintf(out, "%s* joined %s: %s\n", prefix, sanitize(ev.Group), sanitize(strings.Join(ev.Members, ", ")))
	case "commit":
		for _, n := range ev.Added {
			fmt.Fprintf(out, "%s* %s joined\n", prefix, sanitize(n))
		}
		for _, n := range ev.Removed {
			fmt.Fprintf(out, "%s* %s left\n", prefix, sanitize(n))
		}
		if ev.RemovedSelf {
			fmt.Fprintf(out, "%s* you were removed from %s\n", prefix, sanitize(ev.Group))
		}
	}
}

// sanitize makes text from other members safe to print on a terminal:
// control characters (escape sequences, line breaks) and bidirectional
// overrides are shown as escapes, so that a message cannot rewrite the
// screen, forge other lines or reorder what it shows.
func sanitize(s string) string {
	var b strings.Builder
	for i, r := range s {
		switch {
		case r == utf8.RuneError && !strings.HasPrefix(s[i:], "\uFFFD"):
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\t':
			b.WriteRune(r)
		case unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r):
			if r < 0x80 {
				fmt.Fprintf(&b, `\x%02x`, r)
			} else {
				fmt.Fprintf(&b, `\u%04x`, r)
			}
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
