package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/chromedp"

	"github.com/bootsrv/bootsrv/timeline"
)

// consoleYAML is timelineYAML with a console user and an FTP user who
// uploads a device's config backup.
func consoleYAML(hash string) string {
	return strings.Replace(timelineYAML, "http:\n  listen: 10.78.0.1:8080\n",
		"http:\n  listen: 10.78.0.1:8080\n  auth_failure_delay: 200ms\n  users:\n    - {name: admin, password_hash: \""+hash+"\"}\n"+
			"ftp:\n  users:\n    - {name: netops, password_hash: \""+hash+"\", write: true}\n", 1)
}

// artifactDir is where a test leaves its screenshots for a person to look
// at: $BOOTSRV_ARTIFACTS/<test>, else a folder of the test's own under the
// system's temporary directory. Unlike t.TempDir it is kept; the path is
// logged.
func artifactDir(t *testing.T) string {
	t.Helper()
	name := strings.NewReplacer("/", "-", " ", "_").Replace(t.Name())
	var dir string
	var err error
	if base := os.Getenv("BOOTSRV_ARTIFACTS"); base != "" {
		dir = filepath.Join(base, name)
		err = os.MkdirAll(dir, 0o755)
	} else {
		dir, err = os.MkdirTemp("", "bootsrv-"+name+"-")
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots in %s", dir)
	return dir
}

// newBrowser starts headless Chromium inside network namespace ns (where
// bootsrv's HTTP address is) with a fresh profile removed at cleanup, and
// returns its tab. chromedp talks to it over a pipe, which `ip netns exec`
// hands on, so nothing needs to cross the namespaces.
func newBrowser(t *testing.T, ns string) context.Context {
	t.Helper()
	chromium := requireTool(t, "chromium")
	ip := requireTool(t, "ip")
	profile := t.TempDir()
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromium),
		chromedp.Flag("headless", "new"),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1280, 900),
		chromedp.ModifyCmdFunc(func(cmd *exec.Cmd) {
			cmd.Args = append([]string{"ip", "netns", "exec", ns, cmd.Path}, cmd.Args[1:]...)
			cmd.Path = ip
			cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		}),
	)
	ctx, cancelTab := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc()
	})
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// prompt answers the browser's password prompt as a person would: with
// the credentials set last; when the server refuses them (a second
// challenge for the same request) it gives up, and the browser shows the
// 401 page.
type prompt struct {
	mu       sync.Mutex
	user, pw string
	tried    map[fetch.RequestID]bool
}

// answerPrompts takes over the tab's password prompts.
func answerPrompts(t *testing.T, ctx context.Context) *prompt {
	t.Helper()
	p := &prompt{tried: map[fetch.RequestID]bool{}}
	paused := chromedp.Events(ctx, fetch.RequestPaused)
	challenges := chromedp.Events(ctx, fetch.AuthRequired)
	if _, err := chromedp.Call(ctx, fetch.Enable, fetch.EnableParams{HandleAuthRequests: new(true)}); err != nil {
		t.Fatal(err)
	}
	go func() {
		for ev, err := range paused {
			if err != nil {
				return
			}
			chromedp.Call(ctx, fetch.ContinueRequest, fetch.ContinueRequestParams{RequestID: ev.RequestID})
		}
	}()
	go func() {
		for ev, err := range challenges {
			if err != nil {
				return
			}
			p.mu.Lock()
			answer := &fetch.AuthChallengeResponse{Response: fetch.AuthChallengeResponseResponseCancelAuth}
			if !p.tried[ev.RequestID] && p.user != "" {
				answer = &fetch.AuthChallengeResponse{Response: fetch.AuthChallengeResponseResponseProvideCredentials, Username: p.user, Password: p.pw}
			}
			p.tried[ev.RequestID] = true
			p.mu.Unlock()
			chromedp.Call(ctx, fetch.ContinueWithAuth, fetch.ContinueWithAuthParams{RequestID: ev.RequestID, AuthChallengeResponse: answer})
		}
	}()
	return p
}

// set is what the person types at the next prompt; an empty user
// dismisses it.
func (p *prompt) set(user, pw string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.user, p.pw = user, pw
}

// screenshot saves a full-page screenshot of the tab as dir/name.png.
func screenshot(t *testing.T, ctx context.Context, dir, name string) string {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	p := filepath.Join(dir, name+".png")
	if err := os.WriteFile(p, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot %s", p)
	return p
}

// do runs actions that return nothing, failing the test with what.
func do(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// follow runs a step that navigates (a click, a submit) and returns the
// status of the page it leads to.
func follow(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) int64 {
	t.Helper()
	resp, err := chromedp.RunResponse(ctx, steps...)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return resp.Status
}

func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

// TestConsoleBrowser: after a real UEFI PXE boot (firmware, snponly.efi by
// TFTP, a rendered iPXE script, a kernel over HTTP) and an FTP upload of a
// switch's config, an admin in Chromium signs in to the console (a wrong
// password is refused), finds the machine, opens its timeline and sees
// the steps in order, searches the leases, asks the explain form and gets
// the address the machine got, and downloads the upload, which /images/
// does not serve. Each page is saved as a screenshot.
func TestConsoleBrowser(t *testing.T) {
	requireTool(t, "curl")
	requireTool(t, "chromium")
	shots := artifactDir(t)
	n, kernel := startTimelineNet(t, consoleYAML(secretHash(t)))
	mac := "52:54:00:78:00:51"
	out := n.bootGuest(t, 240*time.Second, "BOOTSRV-TIMELINE-", append(ovmfDrives(t),
		"-device", "virtio-net-pci,netdev=n0,romfile=,mac="+mac)...)
	if !strings.Contains(out, "BOOTSRV-TIMELINE-OK") {
		t.Fatalf("the guest did not fetch its kernel:\n%s", out)
	}
	var m timeline.Machine
	waitFor(t, 10*time.Second, "the kernel transfer in the timeline", func() bool {
		argv := inNetns(n.srv, "curl", "-fsS", "-u", "admin:secret", "http://10.78.0.1:8080/api/machines/"+mac)
		b, err := runTool(t, 30*time.Second, argv[0], argv[1:]...)
		return err == nil && json.Unmarshal([]byte(b), &m) == nil && len(m.Events) > 0 && m.Events[len(m.Events)-1].File == "kernel.bin"
	})
	leaseIP := m.Summary.IP

	config := []byte("hostname sw1\ninterface Gi0/1\n description uplink\n")
	cfgFile := filepath.Join(t.TempDir(), "sw1-confg")
	os.WriteFile(cfgFile, config, 0o644)
	argv := inNetns(n.srv, "curl", "-fsS", "--ftp-create-dirs", "-T", cfgFile, "ftp://netops:secret@"+n.proc.Addr("ftp")+"/incoming/sw1-confg")
	if b, err := runTool(t, 30*time.Second, argv[0], argv[1:]...); err != nil {
		t.Fatalf("FTP upload: %v %s", err, b)
	}
	argv = inNetns(n.srv, "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "http://10.78.0.1:8080/images/incoming/sw1-confg")
	if code, _ := runTool(t, 30*time.Second, argv[0], argv[1:]...); code != "404" {
		t.Errorf("the upload over /images/: %s, want 404 (the upload area is write-only)", code)
	}

	ctx := newBrowser(t, n.srv)
	base := "http://10.78.0.1:8080"

	// A dismissed prompt and a wrong password are refused: the browser
	// shows the 401 page.
	login := answerPrompts(t, ctx)
	if st := follow(t, ctx, "no password", chromedp.Navigate(base+"/console/machines")); st != 401 {
		t.Errorf("no password: %d, want 401", st)
	}
	login.set("admin", "wrong")
	if st := follow(t, ctx, "a wrong password", chromedp.Navigate(base+"/")); st != 401 {
		t.Errorf("a wrong password: %d, want 401", st)
	}
	screenshot(t, ctx, shots, "refused")

	// The overview, then the machine through the list and its search.
	login.set("admin", "secret")
	if st := follow(t, ctx, "the overview", chromedp.Navigate(base+"/")); st != 200 {
		t.Fatalf("the overview: %d", st)
	}
	if s := text(t, ctx, "main"); !strings.Contains(s, "dhcp") || !strings.Contains(s, "10.78.0.1:8080") || !strings.Contains(s, "DHCP ACKs") {
		t.Errorf("overview:\n%s", s)
	}
	follow(t, ctx, "the machines tab", chromedp.Click(chromedp.CSS(`header nav a[href="/console/machines"]`)))
	do(t, ctx, "search machines", chromedp.SetValue(chromedp.CSS(`input[name=q]`), mac[9:]))
	follow(t, ctx, "search machines", chromedp.Click(chromedp.CSS(`form.search button`)))
	row := text(t, ctx, fmt.Sprintf(`#machines tr[data-mac=%q]`, mac))
	if !strings.Contains(row, leaseIP) || !strings.Contains(row, "efi64") {
		t.Errorf("the machine's row: %q (lease %s)", row, leaseIP)
	}
	screenshot(t, ctx, shots, "machines")
	follow(t, ctx, "open the timeline", chromedp.Click(chromedp.CSS(fmt.Sprintf(`#machines tr[data-mac=%q] a`, mac))))
	rows, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("#timeline tbody tr")).map(r =>
		[r.dataset.service, r.dataset.kind, r.dataset.type, r.dataset.file, r.dataset.kind == "transfer" && r.dataset.service != "script" && r.dataset.file != "boot.ipxe" ? r.dataset.bytes : ""].filter(x => x).join(" "))`))
	if err != nil {
		t.Fatal(err)
	}
	snp, _ := os.ReadFile("/usr/lib/ipxe/snponly.efi")
	steps := []string{
		"dhcp dhcp_out ack snponly.efi",
		fmt.Sprintf("tftp transfer snponly.efi %d", len(snp)),
		"dhcp dhcp_out ack boot.ipxe",
		"script render boot.ipxe",
		"tftp transfer boot.ipxe",
		fmt.Sprintf("http transfer kernel.bin %d", len(kernel)),
	}
	next := 0
	for _, s := range rows {
		if next < len(steps) && s == steps[next] {
			next++
		}
	}
	if next < len(steps) {
		t.Errorf("the timeline page lacks %q (in order %q):\n%s", steps[next], steps, strings.Join(rows, "\n"))
	}
	screenshot(t, ctx, shots, "timeline")

	// The leases, searched by MAC (the firmware and iPXE, which sends a
	// client id, hold one each) and by address.
	var leaseIPs []string
	for _, q := range []string{mac, leaseIP} {
		follow(t, ctx, "the leases tab", chromedp.Navigate(base+"/console/leases"))
		do(t, ctx, "search leases", chromedp.SetValue(chromedp.CSS(`input[name=q]`), q))
		follow(t, ctx, "search leases", chromedp.Click(chromedp.CSS(`form.search button`)))
		ips, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("#leases tbody tr")).map(r => r.dataset.ip)`))
		if err != nil {
			t.Fatal(err)
		}
		s := text(t, ctx, "#leases")
		if !slices.Contains(ips, leaseIP) || strings.Count(s, mac) != len(ips) || (q == leaseIP && len(ips) != 1) {
			t.Errorf("leases matching %s: %q:\n%s", q, ips, s)
		}
		if q == mac {
			leaseIPs = ips
		}
	}
	screenshot(t, ctx, shots, "leases")

	// The explain form says what the firmware got.
	follow(t, ctx, "the explain tab", chromedp.Click(chromedp.CSS(`header nav a[href="/console/explain"]`)))
	do(t, ctx, "fill the explain form",
		chromedp.SetValue(chromedp.CSS(`input[name=mac]`), mac),
		chromedp.SetValue(chromedp.CSS(`select[name=arch]`), "efi64"))
	if st := follow(t, ctx, "explain", chromedp.Click(chromedp.CSS(`form.explain button`))); st != 200 {
		t.Fatalf("explain: %d", st)
	}
	addr, _, _ := strings.Cut(text(t, ctx, "#address"), " ")
	if s := text(t, ctx, "#explanation"); !strings.Contains(s, "ACK") || !slices.Contains(leaseIPs, addr) ||
		!strings.Contains(text(t, ctx, "#bootfile"), "snponly.efi") {
		t.Errorf("explanation (the machine holds %q):\n%s", leaseIPs, s)
	}
	screenshot(t, ctx, shots, "explain")

	// The upload, with who sent it, downloaded by the console user.
	follow(t, ctx, "the uploads tab", chromedp.Navigate(base+"/console/uploads"))
	if s := text(t, ctx, `#uploads tr[data-name="sw1-confg"]`); !strings.Contains(s, "netops") {
		t.Errorf("the upload's row: %q", s)
	}
	screenshot(t, ctx, shots, "uploads")
	downloads := t.TempDir()
	if _, err := chromedp.CallBrowser(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior: "allowAndName", DownloadPath: downloads, EventsEnabled: new(true)}); err != nil {
		t.Fatal(err)
	}
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	progress := chromedp.BrowserEvents(dctx, browser.DownloadProgress)
	do(t, ctx, "download the upload", chromedp.Click(chromedp.CSS(`#uploads tr[data-name="sw1-confg"] a`)))
	for ev, err := range progress {
		if err != nil {
			t.Fatalf("download: %v", err)
		}
		if ev.State == browser.DownloadProgressStateCanceled {
			t.Fatal("download canceled")
		}
		if ev.State == browser.DownloadProgressStateCompleted {
			got, err := os.ReadFile(filepath.Join(downloads, ev.GUID))
			if err != nil || string(got) != string(config) {
				t.Errorf("downloaded %q (%v), want the uploaded config", got, err)
			}
			break
		}
	}

	// The overview's live part is fetched again by its script: a mark
	// put on its content goes when the content is replaced.
	follow(t, ctx, "the overview", chromedp.Navigate(base+"/"))
	lctx, cancelLive := context.WithTimeout(ctx, 20*time.Second)
	defer cancelLive()
	fresh, err := chromedp.Run(lctx, chromedp.Evaluate[bool](`new Promise(done => {
		const live = document.querySelector("#live");
		live.firstElementChild.dataset.old = "1";
		const iv = setInterval(() => {
			if (!live.querySelector("[data-old]")) { clearInterval(iv); done(!live.hasAttribute("data-stale")); }
		}, 100);
	})`, chromedp.EvalAwaitPromise))
	if err != nil || !fresh {
		t.Errorf("the overview's live part was not refreshed: %v %v", fresh, err)
	}
	screenshot(t, ctx, shots, "overview")
}
