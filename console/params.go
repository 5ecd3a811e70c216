package console

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Bounds of what a list request may ask.
const (
	maxQuery = 200       // characters of a search
	maxPage  = 1_000_000 // page number
)

// listQuery is a list page's request: a search and a page number.
type listQuery struct {
	Q    string
	Page int // from 1
}

// parseList reads ?q= and ?page= of a list page. Errors name the
// parameter and are shown to the user.
func parseList(v url.Values) (listQuery, error) {
	q := listQuery{Q: strings.TrimSpace(v.Get("q")), Page: 1}
	if !utf8.ValidString(q.Q) || strings.IndexFunc(q.Q, func(r rune) bool { return r < ' ' || r == 0x7f }) >= 0 {
		return q, fmt.Errorf("q: use printable text")
	}
	if n := utf8.RuneCountInString(q.Q); n > maxQuery {
		return q, fmt.Errorf("q: at most %d characters, got %d", maxQuery, n)
	}
	if p := v.Get("page"); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > maxPage {
			return listQuery{Q: q.Q, Page: 1}, fmt.Errorf("page: want a number from 1 to %d, got %q", maxPage, p)
		}
		q.Page = n
	}
	return q, nil
}

// offset is where the page starts, for size rows a page.
func (q listQuery) offset(size int) int { return (q.Page - 1) * size }

// pager is the navigation under a list.
type pager struct {
	Q                 string
	Page, Pages       int
	Total, From, To   int // rows From..To (from 1) of Total are shown
	Prev, Next, First string
	Last              string
}

func newPager(base string, q listQuery, total, shown, size int) pager {
	p := pager{Q: q.Q, Page: q.Page, Total: total, Pages: max(1, (total+size-1)/size)}
	if shown > 0 {
		p.From = q.offset(size) + 1
		p.To = p.From + shown - 1
	}
	link := func(n int) string {
		v := url.Values{}
		if q.Q != "" {
			v.Set("q", q.Q)
		}
		if n > 1 {
			v.Set("page", strconv.Itoa(n))
		}
		if len(v) == 0 {
			return base
		}
		return base + "?" + v.Encode()
	}
	if q.Page > 1 {
		p.Prev, p.First = link(min(q.Page-1, p.Pages)), link(1)
	}
	if q.Page < p.Pages {
		p.Next, p.Last = link(q.Page+1), link(p.Pages)
	}
	return p
}
