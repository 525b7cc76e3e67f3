package console_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/crispy-enigma/crispy/api"
	"github.com/crispy-enigma/crispy/internal/app"
	"github.com/crispy-enigma/crispy/internal/config"
	"github.com/crispy-enigma/crispy/internal/tenant"
	"github.com/crispy-enigma/crispy/tenants"
)

// The browser test drives Debian's headless Chromium through the console
// of a real server (the example tenants, on SQLite, with an operator
// credential). It is skipped when no Chromium is installed, unless CI is
// set (.ci/run installs it). CRISPY_CONSOLE_SCREENSHOTS names a folder for
// the screenshots of every page at desktop and phone width (docs/console
// has them); without it they go to a temporary folder.

const (
	acmeKey     = "ck_dev_acme"
	globexKey   = "ck_test_globex_console_all_scopes_0123456789"
	operatorKey = "co_ops_console-test-credential-0123456789"
)

// server is a running crispy and how to reach it.
type server struct {
	url string
	app *app.App
	dir string // the tenants folder
}

func findChrome(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("no Chromium: apt-get install chromium (.ci/run does)")
	}
	t.Skip("no Chromium installed (apt-get install chromium); CI runs this test")
	return ""
}

// startServer runs crispy on the example tenants, globex with a key that
// holds every scope, and an operator credential.
func startServer(t *testing.T) *server {
	t.Helper()
	dir := t.TempDir()
	if err := os.CopyFS(dir, tenants.Examples); err != nil {
		t.Fatal(err)
	}
	gpath := filepath.Join(dir, "globex", tenant.FileName)
	data, err := os.ReadFile(gpath)
	if err != nil {
		t.Fatal(err)
	}
	all := []tenant.Scope{tenant.ScopeChat, tenant.ScopeSearch, tenant.ScopeDocumentsRead, tenant.ScopeDocumentsWrite,
		tenant.ScopeTools, tenant.ScopeTTS, tenant.ScopeUsageRead, tenant.ScopeAdmin}
	data, err = tenant.AddKey(data, tenant.Key{ID: "console", Hash: tenant.HashKey(globexKey), Scopes: all})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(gpath, data, 0o644); err != nil {
		t.Fatal(err)
	}
	ops := filepath.Join(t.TempDir(), "operators.jsonc")
	if err := os.WriteFile(ops, fmt.Appendf(nil, `{"keys": [{"id": "ops", "hash": %q}]}`, tenant.HashKey(operatorKey)), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := config.Defaults()
	cfg.Addr = "127.0.0.1:0"
	cfg.MetricsAddr = config.MetricsOff
	cfg.DataDir = t.TempDir()
	cfg.TenantsDir = dir
	cfg.OperatorKeys = ops
	cfg.ShutdownTimeout = 5 * time.Second
	ctx, cancel := context.WithCancel(context.Background())
	a, err := app.New(ctx, cfg, app.Deps{})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	addr := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() { done <- a.ListenAndServe(ctx, func(x net.Addr) { addr <- x }) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	select {
	case x := <-addr:
		return &server{url: "http://" + x.String(), app: a, dir: dir}
	case err := <-done:
		t.Fatalf("serve: %v", err)
	}
	return nil
}

// browser is one tab of a headless Chromium.
type browser struct {
	t     *testing.T
	ctx   context.Context
	base  string
	shots string

	mu      sync.Mutex
	dialogs []string // every dialog the pages opened ("type: message") and every exception
}

func newBrowser(t *testing.T, chrome, base string) *browser {
	t.Helper()
	profile, err := os.MkdirTemp("", "crispy-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chrome),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1280, 900),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	ctx, cancelTime := context.WithTimeout(ctx, 4*time.Minute)
	t.Cleanup(func() {
		cancelTime()
		cancelTab()
		cancelAlloc()
		// Chromium's children may still write in the profile for a moment.
		for range 50 {
			if os.RemoveAll(profile) == nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
	b := &browser{t: t, ctx: ctx, base: base, shots: os.Getenv("CRISPY_CONSOLE_SCREENSHOTS")}
	if b.shots == "" {
		b.shots = t.TempDir()
	} else if err := os.MkdirAll(b.shots, 0o755); err != nil {
		t.Fatal(err)
	}
	// Confirmations (delete, revoke, roll back) are accepted; every dialog
	// is recorded, so that an alert a document's script opened would show.
	dialogs := chromedp.Events(ctx, page.JavascriptDialogOpening)
	go func() {
		for ev, err := range dialogs {
			if err != nil {
				return
			}
			b.mu.Lock()
			b.dialogs = append(b.dialogs, string(ev.Type)+": "+ev.Message)
			b.mu.Unlock()
			_, _ = chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
		}
	}()
	// Every uncaught exception of a page's scripts is recorded: a script
	// the policy (Trusted Types included) stopped would show here.
	exceptions := chromedp.Events(ctx, runtime.ExceptionThrown)
	go func() {
		for ev, err := range exceptions {
			if err != nil {
				return
			}
			b.mu.Lock()
			b.dialogs = append(b.dialogs, "exception: "+(&chromedp.ExceptionError{ExceptionDetails: ev.ExceptionDetails}).Error())
			b.mu.Unlock()
		}
	}()
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	return b
}

// in makes t the test that the browser's checks fail, until the
// function it returns is called.
func (b *browser) in(t *testing.T) func() {
	parent := b.t
	b.t = t
	return func() { b.t = parent }
}

func (b *browser) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, steps...); err != nil {
		b.fail(what, err)
	}
}

// fail stops the test with what the page showed.
func (b *browser) fail(what string, err error) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	state, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`location.href + " | flash: " + (document.getElementById('flash')?.textContent || "") + " | status: " + (document.querySelector('[aria-live]')?.textContent || '') + " | " + (document.getElementById('upload-status')?.textContent || '') + " | " + document.body.innerText.slice(0, 300)`))
	b.t.Fatalf("%s: %v\npage: %s", what, err, state)
}

// wait polls a JavaScript expression until it is truthy. A navigation
// while it polls (a sign-in moving on to its first page) starts it again
// in the new page.
func (b *browser) wait(what, expr string) {
	b.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := chromedp.Run(b.ctx, chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingTimeout(time.Until(deadline))))
		if err == nil {
			return
		}
		msg := err.Error()
		if time.Now().Before(deadline) && (strings.Contains(msg, "navigated or closed") || strings.Contains(msg, "context was destroyed") || strings.Contains(msg, "Cannot find context")) {
			time.Sleep(50 * time.Millisecond)
			continue
		}
		b.fail("wait for "+what+" ("+expr+")", err)
	}
}

func evalAs[T any](b *browser, expr string) T {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.fail("evaluate "+expr, err)
	}
	return v
}

// open navigates to a console page and waits for its script to start.
func (b *browser) open(path string) {
	b.t.Helper()
	b.do("open "+path, chromedp.Navigate(b.base+path))
	b.wait("the page's script", `document.readyState === 'complete'`)
}

func (b *browser) signIn(key, landing string) {
	b.t.Helper()
	b.open("/console/")
	b.do("sign in", chromedp.WaitVisible(chromedp.ID("signin-key")), chromedp.SendKeys(chromedp.ID("signin-key"), key), chromedp.Click(chromedp.CSS("#signin-form button[type=submit]")))
	b.wait("the first page after sign-in", fmt.Sprintf(`location.pathname === %q && !document.getElementById('nav').hidden`, landing))
}

func (b *browser) signOut() {
	b.t.Helper()
	b.do("sign out", chromedp.Click(chromedp.ID("signout")))
	b.wait("the sign-in page", `location.pathname === '/console/' && document.getElementById('signin-key') !== null && sessionStorage.length === 0`)
}

// shoot writes screenshots of the page at desktop and phone width.
func (b *browser) shoot(name string) {
	b.t.Helper()
	for _, v := range []struct {
		suffix string
		w, h   int64
	}{{"phone", 390, 844}, {"desktop", 1280, 900}} {
		b.do("resize", chromedp.EmulateViewport(v.w, v.h), chromedp.Sleep(200*time.Millisecond))
		// The page fits the width: wide tables scroll inside themselves.
		if w := evalAs[int64](b, `document.documentElement.scrollWidth`); w > v.w {
			b.t.Errorf("%s at %s width (%d px) is %d px wide", name, v.suffix, v.w, w)
		}
		img, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
		if err != nil {
			b.fail("screenshot "+name, err)
		}
		if err := os.WriteFile(filepath.Join(b.shots, name+"-"+v.suffix+".png"), img, 0o644); err != nil {
			b.t.Fatal(err)
		}
	}
}

// call makes an API request outside the browser and returns its status
// and envelope.
func call(t *testing.T, method, url, key string) (int, api.Envelope) {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	req.Header.Set("Authorization", "Bearer "+key)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var env api.Envelope
	_ = json.NewDecoder(res.Body).Decode(&env)
	return res.StatusCode, env
}

func writeFiles(t *testing.T, files map[string]string) []string {
	t.Helper()
	dir := t.TempDir()
	var paths []string
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	return paths
}

func TestBrowser(t *testing.T) {
	chrome := findChrome(t)
	srv := startServer(t)
	b := newBrowser(t, chrome, srv.url)

	b.shoot("signin")
	// The exception watch works: a thrown error is recorded.
	b.do("throw", chromedp.Evaluate[chromedp.Void](`setTimeout(() => { throw new Error('probe'); }); undefined`))
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		b.mu.Lock()
		n := len(b.dialogs)
		if n == 1 && strings.Contains(b.dialogs[0], "probe") {
			b.dialogs = nil
		}
		b.mu.Unlock()
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a thrown exception was not recorded")
		}
	}
	b.signIn(acmeKey, "/console/chat")
	// acme's key holds every scope: every tenant page is offered, and no
	// operator page.
	for _, p := range []string{"chat", "search", "documents", "usage", "tools", "audit", "speech"} {
		if hidden := evalAs[bool](b, fmt.Sprintf(`document.querySelector('#nav a[href="/console/%s"]').hidden`, p)); hidden {
			t.Errorf("the navigation hides %s from a key with every scope", p)
		}
	}
	if !evalAs[bool](b, `document.querySelector('#nav a[href="/console/operator"]').hidden`) {
		t.Error("the navigation offers the operator's page to a tenant key")
	}

	// The keyboard: the first Tab reaches the skip link, which moves the
	// focus to the page's content; the next reach the navigation.
	b.do("tab", chromedp.KeyEvent("\t"))
	if got := evalAs[string](b, `document.activeElement.className`); got != "skip" {
		t.Errorf("the first Tab focuses %q, want the skip link", got)
	}
	b.do("skip", chromedp.KeyEvent("\r"))
	b.wait("the focus in the content", `document.activeElement.id === 'main'`)
	b.do("tab twice", chromedp.KeyEvent("\t"))
	if got := evalAs[string](b, `document.activeElement.id || document.activeElement.tagName`); got != "chat-model" {
		t.Errorf("Tab from the content focuses %q, want the model picker", got)
	}

	var acmeSession string
	t.Run("chat streams an answer with citations", func(t *testing.T) {
		defer b.in(t)()
		b.do("count updates", chromedp.Evaluate[chromedp.Void](`window.updates = 0;
			new MutationObserver((ms) => { window.updates += ms.length; }).observe(document.getElementById('chat-log'), {subtree: true, childList: true, characterData: true}); undefined`))
		b.do("send", chromedp.SendKeys(chromedp.ID("chat-input"), "How long does shipping take?"), chromedp.Click(chromedp.ID("chat-send")))
		b.wait("a cited answer", `document.querySelector('#chat-log .msg.assistant a.cite') && document.getElementById('chat-stats').textContent.includes('tokens')`)
		// Tokens arrived one by one: the answer's text changed many times.
		if n := evalAs[int](b, `window.updates`); n < 5 {
			t.Errorf("the answer changed the page %d times: not streamed token by token", n)
		}
		stats := evalAs[string](b, `document.getElementById('chat-stats').textContent`)
		if !strings.Contains(stats, "builtin/extractive") || !strings.Contains(stats, "first token") {
			t.Errorf("stats = %q", stats)
		}
		acmeSession = evalAs[string](b, `sessionStorage.getItem('crispy.chat.session')`)
		if !strings.HasPrefix(acmeSession, "s_") || evalAs[string](b, `document.getElementById('chat-session').textContent`) != acmeSession {
			t.Fatalf("session %q is not kept and shown", acmeSession)
		}
		b.shoot("chat")
		// A citation links to the cited passage.
		b.do("follow a citation", chromedp.Click(chromedp.CSS("#chat-log .msg.assistant a.cite")))
		b.wait("the cited passage", `location.pathname === '/console/documents/view' && document.querySelector('.chunk.cited') && decodeURIComponent(location.hash.slice(1)) === document.querySelector('.chunk.cited').id`)
		b.shoot("document")
		// Back in the chat, the session's history is shown again.
		b.open("/console/chat")
		b.wait("the session's history", `document.querySelectorAll('#chat-log .msg').length === 2`)
	})

	t.Run("upload documents and find them by search", func(t *testing.T) {
		defer b.in(t)()
		b.open("/console/documents")
		b.wait("the list", `document.getElementById('doc-table').tBodies[0].rows.length > 0 && !document.getElementById('upload-card').hidden`)
		files := writeFiles(t, map[string]string{
			"xss.txt":   "<script>alert(1)</script>",
			"zebra.md":  "# Zebrafish care\n\nZebrafish keep best in water at 28 degrees, fed twice a day with flake food.\n",
			"quokka.md": "# Quokka habits\n\nQuokkas live on Rottnest Island and feed at night on grasses.\n",
		})
		b.do("upload", chromedp.SetUploadFiles(chromedp.ID("upload-files"), files), chromedp.Click(chromedp.CSS("#upload-form button[type=submit]")))
		b.wait("the upload's end", `document.getElementById('upload-status').textContent.startsWith('Done: 3 document(s)') || !document.getElementById('flash').hidden`)
		if msg := evalAs[string](b, `document.getElementById('upload-status').textContent + ' ' + document.getElementById('flash').textContent`); !strings.HasPrefix(msg, "Done: 3") {
			t.Fatalf("upload: %s", msg)
		}
		b.wait("the new documents in the list", `['xss.txt', 'zebra.md', 'quokka.md'].every((id) => document.querySelector('#doc-table tr[data-id="' + id + '"]'))`)
		if v := evalAs[float64](b, `document.getElementById('upload-progress').value`); v != 100 {
			t.Errorf("upload progress = %v, want 100", v)
		}
		// More files than one multipart answer holds go as a job, whose
		// progress is shown until it ends.
		many := map[string]string{}
		for i := range 12 {
			many[fmt.Sprintf("note-%02d.txt", i)] = fmt.Sprintf("Note %d about lighthouse keeping number %d.", i, i*7)
		}
		b.do("upload a batch", chromedp.SetUploadFiles(chromedp.ID("upload-files"), writeFiles(t, many)), chromedp.Click(chromedp.CSS("#upload-form button[type=submit]")))
		b.wait("the job's end", `document.getElementById('upload-status').textContent.startsWith('Done: 12 document(s)')`)
		if done := evalAs[bool](b, `(() => { const p = document.getElementById('job-progress'); return p.max === 12 && p.value === 12; })()`); !done {
			t.Error("the job's progress bar does not end at 12 of 12")
		}
		b.shoot("documents")
		// Delete, after a confirmation.
		b.do("delete", chromedp.Click(chromedp.CSS(`button[aria-label="Delete quokka.md"]`)))
		b.wait("the row gone", `!document.querySelector('#doc-table tr[data-id="quokka.md"]') && document.getElementById('flash').textContent.includes('Deleted quokka.md')`)
		if code, _ := call(t, "GET", srv.url+"/documents/quokka.md", acmeKey); code != http.StatusNotFound {
			t.Errorf("the deleted document: GET = %d, want 404", code)
		}

		// A document whose text is a script shows as text.
		b.open("/console/documents/view?id=xss.txt")
		b.wait("the chunks", `document.querySelector('#doc-chunks .chunk-text')`)
		if got := evalAs[string](b, `document.querySelector('#doc-chunks .chunk-text').textContent`); got != "<script>alert(1)</script>" {
			t.Errorf("the chunk shows %q", got)
		}
		if n := evalAs[int](b, `document.querySelectorAll('main script').length`); n != 0 {
			t.Errorf("the document made %d script elements", n)
		}

		b.open("/console/search?q=" + "what+temperature+do+zebrafish+need")
		b.wait("the answer", `!document.getElementById('search-result').hidden && [...document.querySelectorAll('#search-sources li a')].some((a) => a.textContent.includes('zebra'))`)
		if c := evalAs[float64](b, `document.getElementById('search-confidence').value`); c <= 0 {
			t.Errorf("confidence %v", c)
		}
		if n := evalAs[int](b, `document.getElementById('search-timings').tBodies[0].rows.length`); n < 2 {
			t.Errorf("%d timings", n)
		}
		b.shoot("search")
		// A follow-up is a button that searches it.
		if evalAs[int](b, `document.querySelectorAll('#search-followups button').length`) > 0 {
			follow := evalAs[string](b, `document.querySelector('#search-followups button').textContent`)
			b.do("follow up", chromedp.Click(chromedp.CSS("#search-followups button")))
			b.wait("the follow-up's answer", fmt.Sprintf(`new URLSearchParams(location.search).get('q') === %q && document.getElementById('search-query').value === %q`, follow, follow))
		}
	})

	t.Run("tools and audit", func(t *testing.T) {
		defer b.in(t)()
		b.open("/console/tools")
		b.wait("the tools' forms", `document.getElementById('tool-classify_intent-form')`)
		b.do("invoke", chromedp.SendKeys(chromedp.ID("tool-classify_intent-text"), "I was charged twice on my invoice, please refund me"),
			chromedp.Click(chromedp.CSS("#tool-classify_intent-form button[type=submit]")))
		b.wait("the result", `!document.getElementById('tool-classify_intent-result').hidden`)
		if got := evalAs[string](b, `document.getElementById('tool-classify_intent-result').textContent`); !strings.Contains(got, "billing") {
			t.Errorf("classify_intent result %q", got)
		}
		b.shoot("tools")
		b.open("/console/audit")
		b.wait("the audit record", `[...document.querySelectorAll('#audit-table tbody td')].some((td) => td.textContent === 'classify_intent')`)
		b.do("filter", chromedp.SendKeys(chromedp.ID("audit-tool"), "summarize"), chromedp.Click(chromedp.CSS("#audit-form button[type=submit]")))
		b.wait("the filtered log", `document.querySelector('#audit-table tbody td')?.textContent === 'No records.'`)
		b.shoot("audit")
	})

	t.Run("speech plays in the page", func(t *testing.T) {
		defer b.in(t)()
		if _, err := exec.LookPath("espeak-ng"); err != nil && os.Getenv("CRISPY_REQUIRE_ESPEAK") == "" {
			t.Skip("espeak-ng is not installed")
		}
		b.open("/console/speech")
		b.wait("the voices", `document.querySelectorAll('#speech-voice option').length > 0`)
		b.do("speak", chromedp.Click(chromedp.CSS("#speech-form button[type=submit]")))
		b.wait("audio playing", `(() => { const a = document.getElementById('speech-audio'); return a.src.startsWith('blob:') && a.duration > 0 && (a.currentTime > 0 || a.ended); })()`)
		b.shoot("speech")
	})

	t.Run("usage charts", func(t *testing.T) {
		defer b.in(t)()
		srv.app.FlushUsage()
		b.open("/console/usage")
		b.wait("the charts", `document.querySelectorAll('#usage-charts figure').length === 8 && document.querySelector('#usage-charts svg rect')`)
		req := evalAs[string](b, `document.querySelector('#usage-totals .stat .value').textContent`)
		if req == "0" || req == "" {
			t.Errorf("requests = %q", req)
		}
		b.wait("the budgets", `document.querySelectorAll('#usage-budgets meter').length > 0`)
		b.shoot("usage")
	})

	t.Run("globex sees nothing of acme", func(t *testing.T) {
		defer b.in(t)()
		b.signOut()
		b.signIn(globexKey, "/console/chat")
		// acme's session, planted in this tab, is not found for globex.
		b.do("plant acme's session", chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`sessionStorage.setItem('crispy.chat.session', %q)`, acmeSession)))
		b.open("/console/chat")
		b.wait("the session dropped", `sessionStorage.getItem('crispy.chat.session') === null && document.getElementById('chat-session').textContent === 'new'`)
		if n := evalAs[int](b, `document.querySelectorAll('#chat-log .msg').length`); n != 0 {
			t.Errorf("globex sees %d messages of acme's session", n)
		}
		b.open("/console/documents")
		b.wait("the list", `document.getElementById('doc-quota').textContent !== ''`)
		ids := evalAs[[]string](b, `[...document.querySelectorAll('#doc-table tbody tr[data-id]')].map((r) => r.dataset.id)`)
		for _, id := range ids {
			if strings.Contains(id, "zebra") || strings.Contains(id, "xss") || strings.Contains(id, "shipping") || strings.Contains(id, "note-") {
				t.Errorf("globex lists acme's document %q", id)
			}
		}
		b.open("/console/documents/view?id=zebra.md")
		b.wait("not found", `!document.getElementById('flash').hidden && document.getElementById('flash').textContent.includes('not_found')`)
		if n := evalAs[int](b, `document.querySelectorAll('#doc-chunks li').length`); n != 0 {
			t.Errorf("globex sees %d chunks of acme's document", n)
		}
		b.open("/console/search?q=zebrafish+water")
		b.wait("the answer", `!document.getElementById('search-result').hidden || !document.getElementById('flash').hidden`)
		if evalAs[bool](b, `[...document.querySelectorAll('#search-sources li a')].some((a) => a.textContent.includes('zebra'))`) {
			t.Error("globex's search finds acme's document")
		}
		srv.app.FlushUsage()
		b.open("/console/usage")
		b.wait("the totals", `document.querySelectorAll('#usage-totals .stat').length > 0`)
		// The page shows globex's own usage, which is not acme's.
		shown := evalAs[string](b, `document.querySelector('#usage-totals .stat .value').textContent`)
		requests := func(key string) string {
			_, env := call(t, "GET", srv.url+"/usage", key)
			var rep api.UsageReport
			if err := json.Unmarshal(env.Data, &rep); err != nil {
				t.Fatal(err)
			}
			return fmt.Sprintf("%d", rep.Totals.Requests)
		}
		if g, a := requests(globexKey), requests(acmeKey); shown != g || shown == a {
			t.Errorf("globex's usage page shows %s requests; globex made %s, acme %s", shown, g, a)
		}
	})

	t.Run("operator", func(t *testing.T) {
		defer b.in(t)()
		b.signOut()
		b.signIn(operatorKey, "/console/operator")
		for _, p := range []string{"chat", "documents", "usage"} {
			if !evalAs[bool](b, fmt.Sprintf(`document.querySelector('#nav a[href="/console/%s"]').hidden`, p)) {
				t.Errorf("the navigation offers %s to an operator", p)
			}
		}
		b.wait("the tenants", `['acme', 'globex'].every((id) => [...document.querySelectorAll('#op-tenants tbody a')].some((a) => a.textContent === id))`)
		if got := evalAs[[]string](b, `[...document.querySelectorAll('#op-tenants .badge')].map((b) => b.textContent)`); len(got) != 2 || got[0] != "in-sync" || got[1] != "in-sync" {
			t.Errorf("drift = %v, want in-sync twice", got)
		}
		b.shoot("operator")
		b.do("open acme", chromedp.Click(chromedp.CSS(`#op-tenants tbody a[href$="id=acme"]`)))
		b.wait("acme's keys", `document.querySelector('#t-keys tbody tr') && document.getElementById('t-limits').textContent.includes('rate') && document.querySelector('#t-versions tbody tr')`)
		b.do("new key", chromedp.SendKeys(chromedp.ID("key-id"), "console-e2e"), chromedp.Click(chromedp.CSS("#key-form button[type=submit]")))
		b.wait("the new key", `document.getElementById('key-secret').textContent.startsWith('ck_') && [...document.querySelectorAll('#t-keys code')].some((c) => c.textContent === 'console-e2e')`)
		secret := evalAs[string](b, `document.getElementById('key-secret').textContent`)
		if code, env := call(t, "GET", srv.url+"/me", secret); code != http.StatusOK || !strings.Contains(string(env.Data), `"keyId":"console-e2e"`) {
			t.Fatalf("the new key: GET /me = %d %s", code, env.Data)
		}
		b.shoot("tenant")
		// The server deploys its folder: the key was written into acme's
		// file there, so that it outlives a reload, and acme stays in sync.
		if b, err := os.ReadFile(filepath.Join(srv.dir, "acme", tenant.FileName)); err != nil || !strings.Contains(string(b), `"id": "console-e2e"`) {
			t.Fatalf("acme's file does not hold the new key: %v", err)
		}
		b.open("/console/operator")
		b.wait("no drift", `[...document.querySelectorAll('#op-tenants tbody tr')].some((r) => r.cells[0].textContent === 'acme' && r.cells[3].textContent === 'in-sync')`)
		b.open("/console/operator/tenant?id=acme")
		b.wait("acme's keys", `[...document.querySelectorAll('#t-keys code')].some((c) => c.textContent === 'console-e2e')`)
		b.do("revoke", chromedp.Click(chromedp.CSS(`button[aria-label="Revoke key console-e2e"]`)))
		b.wait("the key gone", `![...document.querySelectorAll('#t-keys code')].some((c) => c.textContent === 'console-e2e') && document.getElementById('flash').textContent.includes('revoked')`)
		if code, _ := call(t, "GET", srv.url+"/me", secret); code != http.StatusUnauthorized {
			t.Errorf("the revoked key: GET /me = %d, want 401", code)
		}
		if err := srv.app.Reload(); err != nil {
			t.Fatal(err)
		}
		if code, _ := call(t, "GET", srv.url+"/me", secret); code != http.StatusUnauthorized {
			t.Errorf("after a reload, the revoked key: GET /me = %d, want 401", code)
		}
	})

	b.mu.Lock()
	defer b.mu.Unlock()
	for _, d := range b.dialogs {
		if !strings.HasPrefix(d, "confirm: ") {
			t.Errorf("a page opened a dialog it should not, or threw: %q", d)
		}
	}
}
