package browsertest

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"go.uber.org/goleak"
)

// TestMain runs the tests in a private network namespace when it can.
func TestMain(m *testing.M) {
	if code, ok := ReexecIsolated(); ok {
		os.Exit(code)
	}
	goleak.VerifyTestMain(m)
}

func TestIsolatedProcessRunsInAnotherNamespace(t *testing.T) {
	RequireIsolated(t)
	self, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		t.Fatalf("read own network namespace: %v", err)
	}
	if outer := OuterNetns(); outer == "" || outer == self {
		t.Errorf("isolated process is in %q, its parent in %q: want two different namespaces", self, outer)
	}
}

func TestBrowserEvaluatesWaitsAndRecordsTheConsole(t *testing.T) {
	RequireChromium(t)
	RequireIsolated(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, `<!doctype html><title>t</title><script>
		  console.log('page', 'loaded');
		  setTimeout(() => { window.late = 42; }, 300);
		</script>`)
	}))
	defer srv.Close()

	b := New(t, "tester", Options{
		Width: 640, Height: 480,
		Flags:    []chromedp.ExecAllocatorOption{chromedp.Flag("lang", "en-US")},
		ReportJS: `'title ' + document.title`,
	})
	b.AddInitScript("mark documents", `window.marked = 'yes';`)
	b.Do("open the page", chromedp.Navigate(srv.URL))
	if got := Eval[string](b, `window.marked`); got != "yes" {
		t.Errorf("init script: window.marked = %q, want yes", got)
	}
	if got := Eval[int](b, `Promise.resolve(window.innerWidth)`); got != 640 {
		t.Errorf("window width = %d, want 640", got)
	}
	b.WaitFor("the late value", `window.late === 42`)
	if got := Eval[int](b, `window.late`); got != 42 {
		t.Errorf("window.late = %d after WaitFor, want 42", got)
	}
	if !strings.Contains(b.Console(), `console.log: "page" "loaded"`) {
		t.Errorf("console log lacks the page's message:\n%s", b.Console())
	}
	if r := b.Report(); !strings.Contains(r, "tester page: title t") {
		t.Errorf("report lacks the page state:\n%s", r)
	}
}
