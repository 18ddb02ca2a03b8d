package web_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/golang-jwt/jwt/v5"

	"github.com/presenced/presenced/actors"
	"github.com/presenced/presenced/internal/pgtest"
	"github.com/presenced/presenced/internal/tcpproxy"
	"github.com/presenced/presenced/internal/wstest"
	"github.com/presenced/presenced/persistence"
	"github.com/presenced/presenced/transport"
	"github.com/presenced/presenced/web"
)

// stepTimeout bounds one step of the browser test: generous for a loaded CI
// machine, short enough that a broken step fails fast.
const stepTimeout = 15 * time.Second

// artifacts is where the screenshots go: git-ignored, kept after the run.
var artifacts = filepath.Join("..", "artifacts")

// TestDashboardInChromium drives the dashboard in Debian's Chromium, as two
// people (and then an admin) would use it, against a real presenced with a
// real SQLite store. Bob's page goes through a TCP proxy so that the test can
// cut his connection on the server's side and watch the client come back.
func TestDashboardInChromium(t *testing.T) {
	chromium := chromiumPath(t)
	srv := startServer(t, transport.AuthOptions{Mode: transport.AuthDev})
	proxy := tcpproxy.Start(t, strings.TrimPrefix(srv.URL, "http://"))
	bobURL := "http://" + proxy.Addr

	browser := startBrowser(t, chromium)
	alice := newTab(t, browser, "alice", 1280, 800)
	bob := newTab(t, browser, "bob", 390, 844) // a phone
	tabs := []*tab{alice, bob}
	for _, tb := range tabs {
		tb.all = &tabs
	}

	// Dana wrote alice more than a page of messages and left.
	const seeded = 35
	seedMessages(t, srv.URL, "dana", "alice", seeded)

	// Alice signs in: an unread badge; opening the chat clears it and shows
	// the newest page, "load older" the rest.
	alice.login(srv.URL, "alice", "CLIENT")
	alice.waitDot("dana", "offline")
	alice.wait("alice has dana's messages unread",
		fmt.Sprintf(`document.querySelector('#conv-list [data-user="dana"] .badge')?.textContent === '%d'`, seeded))
	alice.click(`#conv-list [data-user="dana"]`)
	alice.wait("alice sees the newest page", `document.querySelectorAll('#messages .msg').length === 30 &&
		!document.querySelector('#load-older').hidden && !document.querySelector('#conv-list .badge')`)
	alice.click("#load-older")
	alice.wait("alice sees every message, oldest first", fmt.Sprintf(`document.querySelectorAll('#messages .msg').length === %d &&
		document.querySelector('#messages .bubble').textContent === 'Note 1 of %d about the brief' &&
		document.querySelector('#load-older').hidden`, seeded, seeded))

	// Alice starts a conversation with bob, who is not here yet. Her chat
	// with him stays open.
	alice.startConversation("bob")
	alice.waitDot("bob", "offline")
	alice.wait("alice's chat with bob is open", `document.querySelector('#chat-title').textContent === 'bob'`)

	// Bob signs in: yellow for alice. Alice has his chat open: green for bob.
	bob.login(bobURL, "bob", "FREELANCER")
	alice.waitDot("bob", "active")
	bob.waitDot("alice", "online")
	bob.screenshot("dashboard-bob-phone-list.png")

	// Bob opens alice's chat: green for alice.
	bob.click(`#conv-list [data-user="alice"]`)
	alice.waitDot("bob", "online")
	alice.wait("alice's chat header shows bob chatting with her",
		`document.querySelector('#chat-status').textContent === 'Chatting with you'`)

	// Bob types: alice sees it; he sends: alice has the chat open, so it is
	// read at once and bob sees the read mark.
	bob.do("bob types", chromedp.SendKeys(chromedp.CSS("#composer-input"), "Hello Alice, is the logo ready?"))
	alice.wait("alice sees bob typing", `document.querySelector('#typing').textContent === 'bob is typing…'`)
	bob.click(`#composer button[type="submit"]`)
	alice.waitMessage("Hello Alice, is the logo ready?", "theirs", "")
	bob.waitMessage("Hello Alice, is the logo ready?", "mine", "read")
	alice.wait("the typing line clears with the message", `document.querySelector('#typing').textContent === ''`)

	alice.do("alice answers", chromedp.SendKeys(chromedp.CSS("#composer-input"), "Yes! Sending it over in a minute."))
	alice.click(`#composer button[type="submit"]`)
	bob.waitMessage("Yes! Sending it over in a minute.", "theirs", "")
	alice.waitMessage("Yes! Sending it over in a minute.", "mine", "read")

	// The server loses bob's connection (the proxy drops it and refuses new
	// ones): his client notices and waits to reconnect; a message he sends
	// meanwhile is queued, and arrives once when he is back.
	proxy.Cut()
	bob.wait("bob's client notices the drop", `window.presence.state !== 'open'`)
	bob.do("bob types while cut off", chromedp.SendKeys(chromedp.CSS("#composer-input"), "Queued while I was cut off"))
	bob.click(`#composer button[type="submit"]`)
	bob.waitMessage("Queued while I was cut off", "mine", "pending")
	bob.screenshot("dashboard-bob-reconnecting.png")
	proxy.Restore()
	bob.waitConnected()
	bob.waitMessage("Queued while I was cut off", "mine", "read")
	alice.waitMessage("Queued while I was cut off", "theirs", "")
	alice.waitDot("bob", "online") // his client focused the chat again

	// A message on its way when the socket goes: the client resends it with
	// the same clientMsgId after reconnecting, and the server answers with
	// the one it stored. _debugDropSocket is the client's documented hook.
	state := evaluate[string](bob, "bob sends and drops the socket at once", `(() => {
		document.querySelector('#composer-input').value = 'In flight when the socket went';
		document.querySelector('#composer').requestSubmit();
		window.presence._debugDropSocket();
		return window.presence.state;
	})()`)
	if state == "open" {
		t.Fatalf("bob's client is %q right after the drop", state)
	}
	bob.waitConnected()
	bob.waitMessage("In flight when the socket went", "mine", "read")
	alice.waitMessage("In flight when the socket went", "theirs", "")
	alice.waitDot("bob", "online")

	// Bob's page is hidden (another tab, a locked phone): the client blurs
	// his chats, and focuses them again when the page is back.
	setHidden := func(hidden bool) string {
		state := "visible"
		if hidden {
			state = "hidden"
		}
		return fmt.Sprintf(`Object.defineProperty(document, 'visibilityState', {configurable: true, get: () => %q});
			document.dispatchEvent(new Event('visibilitychange'))`, state)
	}
	bob.do("bob's page is hidden", chromedp.Evaluate[chromedp.Void](setHidden(true)))
	alice.waitDot("bob", "active")
	bob.do("bob's page is visible again", chromedp.Evaluate[chromedp.Void](setHidden(false)))
	alice.waitDot("bob", "online")

	// Exactly once: in both pages and in the store.
	conv := evaluate[string](alice, "read the conversation id",
		`document.querySelector('#conv-list [data-user="bob"]').dataset.conv`)
	for _, text := range []string{"Queued while I was cut off", "In flight when the socket went"} {
		for _, tb := range tabs {
			if n := evaluate[int](tb, "count "+text, countMessages(text)); n != 1 {
				t.Errorf("%s's page shows %q %d times, want once", tb.name, text, n)
			}
		}
		if n := storedCount(t, srv.URL, conv, text); n != 1 {
			t.Errorf("the store has %q %d times, want once", text, n)
		}
	}

	alice.screenshot("dashboard-alice.png")
	bob.screenshot("dashboard-bob-phone.png")

	// Bob closes the chat (on a phone, with the back arrow): yellow again.
	bob.click("#chat-back")
	alice.waitDot("bob", "active")

	// A message while his chat is closed is delivered, not read, and makes
	// a badge; opening the chat reads it.
	alice.do("alice writes again", chromedp.SendKeys(chromedp.CSS("#composer-input"), "Logo attached, have a look"))
	alice.click(`#composer button[type="submit"]`)
	alice.waitMessage("Logo attached, have a look", "mine", "delivered")
	alice.screenshot("dashboard-alice-delivered.png")
	bob.wait("bob has a badge", `document.querySelector('#conv-list [data-user="alice"] .badge')?.textContent === '1'`)
	bob.click(`#conv-list [data-user="alice"]`)
	alice.waitMessage("Logo attached, have a look", "mine", "read")
	bob.click("#chat-close")
	alice.waitDot("bob", "active")

	// An admin sees everyone online, counted by role, live.
	carol := newTab(t, browser, "carol", 1280, 800)
	carol.all = &tabs
	tabs = append(tabs, carol)
	carol.login(srv.URL, "carol", "ADMIN")
	carol.wait("carol counts one of each role", roleCounts(1, 1, 1))
	carol.wait("carol lists alice and bob", `!!document.querySelector('#online-list [data-user="alice"] .dot[data-status="active"]') &&
		!!document.querySelector('#online-list [data-user="bob"] .dot[data-status="active"]')`)
	carol.screenshot("dashboard-admin.png")

	// Bob logs out: gray for alice after the offline grace, with when he was
	// last seen; the admin's counts follow.
	bob.click("#logout")
	bob.do("bob is back at the sign-in form", chromedp.WaitVisible(chromedp.CSS("#login-user")))
	alice.waitDot("bob", "offline")
	alice.wait("alice sees when bob was last seen",
		`document.querySelector('#conv-list [data-user="bob"] .status').textContent === 'Last seen just now'`)
	carol.wait("carol's counts drop bob", roleCounts(1, 0, 1))

	// The admin starts a chat from the overview; signing out and in again
	// starts clean; a reload keeps the session.
	carol.click(`#online-list [data-user="alice"]`)
	carol.wait("carol's chat with alice is open", `document.querySelector('#chat-title').textContent === 'alice'`)
	carol.click("#logout")
	carol.login("", "carol", "ADMIN")
	carol.do("carol sees the empty state", chromedp.WaitVisible(chromedp.CSS("#placeholder")))
	carol.wait("carol's counts are right again", roleCounts(1, 0, 1))
	alice.do("alice reloads", chromedp.Reload())
	alice.waitConnected()
	alice.waitDot("bob", "offline")
	alice.waitDot("dana", "offline")

	for _, tb := range tabs {
		tb.checkNoExceptions()
	}
}

// TestDashboardRetriesWhileTheStoreIsDown: a message sent while the
// database is unreachable is answered unavailable; the client keeps it,
// says so, and sends it again with the same clientMsgId until the database
// is back. It is stored and shown once.
func TestDashboardRetriesWhileTheStoreIsDown(t *testing.T) {
	chromium := chromiumPath(t)
	dbURL, db := pgtest.Cuttable(t)
	store, err := persistence.OpenPostgres(context.Background(), dbURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := startServerOn(t, transport.AuthOptions{Mode: transport.AuthDev}, store)
	browser := startBrowser(t, chromium)
	alice := newTab(t, browser, "alice", 1024, 700)
	bob := newTab(t, browser, "bob", 1024, 700)
	tabs := []*tab{alice, bob}
	alice.all, bob.all = &tabs, &tabs

	alice.login(srv.URL, "alice", "CLIENT")
	alice.startConversation("bob")
	bob.login(srv.URL, "bob", "FREELANCER")
	bob.click(`#conv-list [data-user="alice"]`)
	alice.waitDot("bob", "online")

	db.Cut()
	const text = "Sent while the database was away"
	alice.do("alice writes", chromedp.SendKeys(chromedp.CSS("#composer-input"), text))
	alice.click(`#composer button[type="submit"]`)
	alice.wait("alice is told the server will get it later", `[...document.querySelectorAll('#messages .msg.mine')].some(m =>
		m.dataset.status === 'pending' && m.querySelector('.mark').textContent.includes('retrying'))`)
	db.Restore()
	alice.waitMessage(text, "mine", "read")
	bob.waitMessage(text, "theirs", "")

	conv := evaluate[string](alice, "read the conversation id",
		`document.querySelector('#conv-list [data-user="bob"]').dataset.conv`)
	for _, tb := range tabs {
		if n := evaluate[int](tb, "count the message", countMessages(text)); n != 1 {
			t.Errorf("%s's page shows it %d times, want once", tb.name, n)
		}
		tb.checkNoExceptions()
	}
	if n := storedCount(t, srv.URL, conv, text); n != 1 {
		t.Errorf("the store has it %d times, want once", n)
	}
}

// TestDashboardSignsInWithAToken: in jwt mode the page asks for a token,
// sends a bad one back to the form with a reason, and connects with a good one.
func TestDashboardSignsInWithAToken(t *testing.T) {
	chromium := chromiumPath(t)
	secret := []byte("browser-test-secret")
	srv := startServer(t, transport.AuthOptions{Mode: transport.AuthJWT, Secret: secret})
	browser := startBrowser(t, chromium)
	erin := newTab(t, browser, "erin", 1024, 700)
	erin.all = &[]*tab{erin}

	signIn := func(token string) {
		erin.do("sign in with a token",
			chromedp.WaitVisible(chromedp.CSS("#login-token")),
			chromedp.WaitEnabled(chromedp.CSS("#login-submit")),
			chromedp.SetValue(chromedp.CSS("#login-token"), token),
			chromedp.Click(chromedp.CSS("#login-submit")),
		)
	}
	erin.do("open the dashboard", chromedp.Navigate(srv.URL))
	erin.wait("no user id field in jwt mode", `document.querySelector('#dev-fields').hidden`)
	signIn("not.a.token")
	erin.wait("the form says why", `document.querySelector('#login-error').textContent === 'The server refused this token.'`)

	token, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub": "erin", "role": "FREELANCER", "exp": time.Now().Add(time.Hour).Unix(),
	}).SignedString(secret)
	if err != nil {
		t.Fatal(err)
	}
	signIn(token)
	erin.waitConnected()
	erin.wait("erin is signed in", `document.querySelector('#me-name').textContent === 'erin'`)
	erin.checkNoExceptions()
}

// TestClientHelpers checks presence-client.js's pure functions in the
// browser itself, where they run (no Node needed).
func TestClientHelpers(t *testing.T) {
	chromium := chromiumPath(t)
	srv := startServer(t, transport.AuthOptions{Mode: transport.AuthDev})
	browser := startBrowser(t, chromium)
	page := newTab(t, browser, "page", 800, 600)
	page.all = &[]*tab{page}
	page.do("open the dashboard", chromedp.Navigate(srv.URL))
	ctx, cancel := context.WithTimeout(page.ctx, stepTimeout)
	defer cancel()
	failures, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`(async () => {
		const m = await import('/ui/presence-client.js');
		const out = [];
		const eq = (name, got, want) => {
			if (JSON.stringify(got) !== JSON.stringify(want)) out.push(name + ': got ' + JSON.stringify(got) + ', want ' + JSON.stringify(want));
		};
		eq('http base', m.endpoints('http://h:1'), { ws: 'ws://h:1/ws', http: 'http://h:1' });
		eq('https base with a path', m.endpoints('https://h/chat/'), { ws: 'wss://h/chat/ws', http: 'https://h/chat' });
		eq('a ws URL', m.endpoints('wss://h/ws'), { ws: 'wss://h/ws', http: 'https://h' });
		eq('the page', m.endpoints(), { ws: 'ws://' + location.host + '/ws', http: location.origin });

		const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
		const ids = new Set();
		for (let i = 0; i < 100; i++) ids.add(m.newClientMsgId());
		// As in a page served over plain http from another host: no randomUUID.
		Object.defineProperty(crypto, 'randomUUID', { value: undefined, configurable: true });
		try {
			for (let i = 0; i < 100; i++) ids.add(m.newClientMsgId());
		} finally {
			delete crypto.randomUUID;
		}
		eq('distinct ids', ids.size, 200);
		for (const id of ids) if (!uuid.test(id)) out.push('not a v4 UUID: ' + id);

		try {
			m.connect({});
			out.push('connect without credentials did not throw');
		} catch (e) {
			eq('connect without credentials', e instanceof TypeError, true);
		}
		const e = new m.PresenceError('unavailable', 'store down');
		eq('PresenceError', [e.code, e.message, e instanceof Error], ['unavailable', 'store down', true]);
		return out;
	})()`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range failures {
		t.Error(f)
	}
	page.checkNoExceptions()
}

// ---- the server -------------------------------------------------------------

// startServer runs presenced on a fresh SQLite store.
func startServer(t *testing.T, auth transport.AuthOptions) *httptest.Server {
	t.Helper()
	store, err := persistence.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "p.db"), nil)
	if err != nil {
		t.Fatalf("opening store: %v", err)
	}
	return startServerOn(t, auth, store)
}

// startServerOn runs presenced on store, with a short offline grace so that
// a logout turns gray quickly, until the test ends; then it closes store.
func startServerOn(t *testing.T, auth transport.AuthOptions, store actors.Store) *httptest.Server {
	t.Helper()
	engine, err := actors.New(actors.Options{Store: store, OfflineGrace: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return wstest.Serve(t, engine, transport.Options{
		Auth:       auth,
		Visibility: "contacts",
		UI:         web.Handler(),
	}, store)
}

// seedMessages has from send n messages to to over a real WebSocket, each
// acknowledged (so stored) before the next, and leaves.
func seedMessages(t *testing.T, base, from, to string, n int) {
	t.Helper()
	body := strings.NewReader(fmt.Sprintf(`{"memberIds":[%q,%q]}`, from, to))
	resp, err := http.Post(base+"/v1/conversations?user="+from+"&role=CLIENT", "application/json", body)
	if err != nil {
		t.Fatal(err)
	}
	var conv struct{ ConversationID string }
	err = json.NewDecoder(resp.Body).Decode(&conv)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("creating a conversation: %d %v", resp.StatusCode, err)
	}
	c := wstest.Dial(t, wstest.WSURL(base, "user="+from+"&role=CLIENT"), nil)
	c.Expect("presence:connected")
	for i := 1; i <= n; i++ {
		c.Send("send_message", fmt.Sprint("s", i), map[string]string{
			"conversationId": conv.ConversationID,
			"content":        fmt.Sprintf("Note %d of %d about the brief", i, n),
			"clientMsgId":    fmt.Sprint("seed-", i),
		})
		c.Until("message:sent")
	}
	_ = c.WS.Close()
}

// storedCount asks the HTTP API how many messages of conv have this text.
func storedCount(t *testing.T, base, conv, text string) int {
	t.Helper()
	resp, err := http.Get(base + "/v1/conversations/" + conv + "/messages?limit=200&user=alice&role=CLIENT")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var page struct {
		Messages []struct{ Content string }
	}
	if err := json.NewDecoder(resp.Body).Decode(&page); err != nil || resp.StatusCode != 200 {
		t.Fatalf("history over HTTP: %d %v", resp.StatusCode, err)
	}
	n := 0
	for _, m := range page.Messages {
		if m.Content == text {
			n++
		}
	}
	return n
}

// ---- the browser ------------------------------------------------------------

// chromiumPath finds Debian's Chromium. Its absence fails the test: a
// dashboard nobody ran in a browser is not tested.
func chromiumPath(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/bin/chromium"); err == nil {
		return "/usr/bin/chromium"
	}
	t.Fatal("Chromium is not installed; the dashboard test needs it: apt-get install -y chromium")
	return ""
}

func startBrowser(t *testing.T, path string) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox, // root in CI
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 800),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	// Registered after the server's cleanup, so it runs first: the browser
	// goes before the server it talks to.
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting Chromium (%s): %v", path, err)
	}
	return ctx
}

// tab is one person's page, in a browser context of its own (separate
// cookies and storage, as two browsers would have).
type tab struct {
	t    *testing.T
	name string
	ctx  context.Context
	all  *[]*tab // every tab, screenshotted when a step fails

	mu         sync.Mutex
	exceptions []string
}

func newTab(t *testing.T, browser context.Context, name string, width, height int64) *tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	tb := &tab{t: t, name: name, ctx: ctx}
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(width, height)); err != nil {
		t.Fatalf("opening %s's tab: %v", name, err)
	}
	if err := chromedp.Listen(ctx, func(ev any) {
		if e, ok := ev.(*runtime.EventExceptionThrown); ok {
			d := e.ExceptionDetails
			msg := d.Text
			if d.Exception != nil && d.Exception.Description != "" {
				msg = d.Exception.Description
			}
			tb.mu.Lock()
			tb.exceptions = append(tb.exceptions, fmt.Sprintf("%s:%d: %s", d.URL, d.LineNumber+1, msg))
			tb.mu.Unlock()
		}
	}); err != nil {
		t.Fatal(err)
	}
	return tb
}

// do runs one step; a failure saves a screenshot of every tab.
func (tb *tab) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		tb.fail(what, err)
	}
}

func (tb *tab) fail(what string, err error) {
	tb.t.Helper()
	for _, other := range *tb.all {
		other.screenshot("failure-" + other.name + ".png")
		other.mu.Lock()
		for _, e := range other.exceptions {
			tb.t.Logf("%s's page threw: %s", other.name, e)
		}
		other.mu.Unlock()
	}
	if errors.Is(err, context.DeadlineExceeded) {
		err = fmt.Errorf("not within %s", stepTimeout)
	}
	tb.t.Fatalf("%s: %s: %v (screenshots in artifacts/failure-*.png)", tb.name, what, err)
}

// wait polls a JavaScript condition in the page until it holds.
func (tb *tab) wait(what, condition string) {
	tb.t.Helper()
	tb.do(what, chromedp.Poll[chromedp.Void](condition,
		chromedp.WithPollingInterval(20*time.Millisecond), chromedp.WithPollingTimeout(stepTimeout)))
}

func (tb *tab) click(selector string) {
	tb.t.Helper()
	tb.do("click "+selector, chromedp.Click(chromedp.CSS(selector)))
}

// login signs in from the form; it opens url first unless url is "" (the
// form is already there, after a logout).
func (tb *tab) login(url, user, role string) {
	tb.t.Helper()
	if url != "" {
		tb.do("open "+url, chromedp.Navigate(url))
	}
	tb.do("sign in as "+user,
		chromedp.WaitEnabled(chromedp.CSS("#login-submit")),
		chromedp.Clear(chromedp.CSS("#login-user")),
		chromedp.SendKeys(chromedp.CSS("#login-user"), user),
		chromedp.SetValue(chromedp.CSS("#login-role"), role),
		chromedp.Click(chromedp.CSS("#login-submit")),
	)
	tb.waitConnected()
}

func (tb *tab) waitConnected() {
	tb.t.Helper()
	tb.do("wait until connected", chromedp.WaitVisible(chromedp.CSS(`#conn[data-state="open"]`)))
}

func (tb *tab) startConversation(user string) {
	tb.t.Helper()
	tb.do("start a conversation with "+user,
		chromedp.SendKeys(chromedp.CSS("#new-conv-user"), user),
		chromedp.Click(chromedp.CSS(`#new-conv button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`#conv-list [data-user=%q]`, user))),
	)
}

// waitDot waits until user's dot in the conversation list has status.
func (tb *tab) waitDot(user, status string) {
	tb.t.Helper()
	tb.do(fmt.Sprintf("see %s %s", user, status),
		chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`#conv-list [data-user=%q] .dot[data-status=%q]`, user, status))))
}

// waitMessage waits until the open chat shows text from side ("mine" or
// "theirs"), with the mark status when one is given.
func (tb *tab) waitMessage(text, side, status string) {
	tb.t.Helper()
	js, _ := json.Marshal(text)
	cond := fmt.Sprintf(`[...document.querySelectorAll('#messages .msg.%s')].some(m =>
		m.querySelector('.bubble').textContent === %s && (%q === '' || m.dataset.status === %q))`, side, js, status, status)
	what := fmt.Sprintf("see %q", text)
	if status != "" {
		what += " marked " + status
	}
	tb.wait(what, cond)
}

func countMessages(text string) string {
	js, _ := json.Marshal(text)
	return fmt.Sprintf(`[...document.querySelectorAll('#messages .bubble')].filter(b => b.textContent === %s).length`, js)
}

func roleCounts(clients, freelancers, admins int) string {
	return fmt.Sprintf(`(() => {
		const n = (r) => Number(document.querySelector('#role-counts [data-role="' + r + '"] .count-num').textContent);
		return n('CLIENT') === %d && n('FREELANCER') === %d && n('ADMIN') === %d;
	})()`, clients, freelancers, admins)
}

func evaluate[T any](tb *tab, what, expression string) T {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expression))
	if err != nil {
		tb.fail(what, err)
	}
	return v
}

// screenshot saves what the tab shows under artifacts/.
func (tb *tab) screenshot(name string) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, stepTimeout)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		tb.t.Logf("screenshot of %s: %v", tb.name, err)
		return
	}
	if err := os.MkdirAll(artifacts, 0o755); err != nil {
		tb.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(artifacts, name), png, 0o644); err != nil {
		tb.t.Fatal(err)
	}
}

func (tb *tab) checkNoExceptions() {
	tb.t.Helper()
	tb.mu.Lock()
	defer tb.mu.Unlock()
	for _, e := range tb.exceptions {
		tb.t.Errorf("%s's page threw: %s", tb.name, e)
	}
}
