package e2e

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/goccy/go-yaml"
)

// The shipped dashboard and alert rules (deploy/): they are tested here so
// that a renamed metric or a broken query fails the build, not the
// operator's dashboard at 3 a.m.
var (
	dashboardFile = filepath.Join("..", "deploy", "grafana", "bootsrv.json")
	alertsFile    = filepath.Join("..", "deploy", "prometheus", "bootsrv-alerts.yml")
	alertTestFile = filepath.Join("..", "deploy", "prometheus", "bootsrv-alerts.test.yml")
)

type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert       string            `yaml:"alert"`
			Expr        string            `yaml:"expr"`
			For         string            `yaml:"for"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

type ruleTestFile struct {
	Tests []struct {
		Name          string `yaml:"name"`
		AlertRuleTest []struct {
			Alertname string           `yaml:"alertname"`
			ExpAlerts []map[string]any `yaml:"exp_alerts"`
		} `yaml:"alert_rule_test"`
	} `yaml:"tests"`
}

type dsRef struct{ Type, UID string }

type dashPanel struct {
	ID          int
	Type, Title string
	Datasource  *dsRef
	GridPos     struct{ H, W, X, Y int }
	Targets     []struct {
		RefID      string `json:"refId"`
		Expr       string
		Datasource *dsRef
	}
	FieldConfig struct{ Defaults struct{ Unit string } }
	Panels      []dashPanel // a collapsed row holds its panels
}

type dashboard struct {
	UID, Title    string
	SchemaVersion int
	Templating    struct {
		List []struct {
			Name, Type, Definition string
			Query                  any
			Datasource             *dsRef
		}
	}
	Panels []dashPanel
}

func readAlerts(t *testing.T) ruleFile {
	t.Helper()
	var rf ruleFile
	readYAML(t, alertsFile, &rf)
	return rf
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func readDashboard(t *testing.T) dashboard {
	t.Helper()
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s is not valid JSON: %v", dashboardFile, err)
	}
	return d
}

// panels flattens rows: every panel but the rows themselves.
func (d dashboard) panels() []dashPanel {
	var out []dashPanel
	for _, p := range d.Panels {
		if p.Type == "row" {
			out = append(out, p.Panels...)
			continue
		}
		out = append(out, p)
	}
	return out
}

func runPromtool(t *testing.T, args ...string) {
	t.Helper()
	out, err := runTool(t, time.Minute, requireTool(t, "promtool"), args...)
	if err != nil {
		t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// TestAlertRules runs promtool's syntax check and unit tests, and checks
// that every alert is documented for the one it pages and tested both ways.
func TestAlertRules(t *testing.T) {
	var tests ruleTestFile
	readYAML(t, alertTestFile, &tests)
	fires, quiet := map[string]bool{}, map[string]bool{}
	for _, tc := range tests.Tests {
		for _, a := range tc.AlertRuleTest {
			if len(a.ExpAlerts) > 0 {
				fires[a.Alertname] = true
			} else {
				quiet[a.Alertname] = true
			}
		}
	}
	seen := map[string]bool{}
	for _, g := range readAlerts(t).Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			if seen[r.Alert] {
				t.Errorf("alert %s defined twice", r.Alert)
			}
			seen[r.Alert] = true
			if s := r.Labels["severity"]; s != "warning" && s != "critical" {
				t.Errorf("alert %s: severity %q, want warning or critical", r.Alert, s)
			}
			for _, a := range []string{"summary", "description", "runbook"} {
				if strings.TrimSpace(r.Annotations[a]) == "" {
					t.Errorf("alert %s has no %s annotation", r.Alert, a)
				}
			}
			if !fires[r.Alert] || !quiet[r.Alert] {
				t.Errorf("alert %s: tested firing %v, tested quiet %v; want both in %s", r.Alert, fires[r.Alert], quiet[r.Alert], alertTestFile)
			}
		}
	}
	for name := range fires {
		if !seen[name] {
			t.Errorf("%s tests alert %s, which the rules do not define", alertTestFile, name)
		}
	}
	runPromtool(t, "check", "rules", alertsFile)
	runPromtool(t, "test", "rules", alertTestFile)
}

// TestDashboard checks the dashboard's structure and, with promtool, that
// every query parses.
func TestDashboard(t *testing.T) {
	d := readDashboard(t)
	if d.UID == "" || d.Title == "" || d.SchemaVersion < 36 {
		t.Errorf("uid %q, title %q, schemaVersion %d: want both set and a Grafana 10 schema (>= 36)", d.UID, d.Title, d.SchemaVersion)
	}
	vars := map[string]string{}
	for _, v := range d.Templating.List {
		vars[v.Name] = v.Type
		switch v.Name {
		case "datasource":
			if v.Type != "datasource" || v.Query != "prometheus" {
				t.Errorf("variable datasource: type %q query %v, want a prometheus datasource variable", v.Type, v.Query)
			}
		case "instance":
			if v.Definition != "label_values(bootsrv_build_info, instance)" || !usesVariable(v.Datasource) {
				t.Errorf("variable instance: definition %q datasource %+v", v.Definition, v.Datasource)
			}
		}
	}
	if vars["datasource"] == "" || vars["instance"] == "" {
		t.Errorf("variables %v: want datasource and instance", vars)
	}
	rows := 0
	for _, p := range d.Panels {
		if p.Type == "row" {
			rows++
		}
	}
	if rows < 2 {
		t.Errorf("%d rows, want panels grouped in rows", rows)
	}
	ids := map[int]bool{}
	var rules strings.Builder
	rules.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	for _, p := range d.panels() {
		where := fmt.Sprintf("panel %d %q", p.ID, p.Title)
		if ids[p.ID] {
			t.Errorf("%s: duplicate id", where)
		}
		ids[p.ID] = true
		if !usesVariable(p.Datasource) {
			t.Errorf("%s: datasource %+v, want the ${datasource} variable", where, p.Datasource)
		}
		if p.FieldConfig.Defaults.Unit == "" {
			t.Errorf("%s: no unit", where)
		}
		if g := p.GridPos; g.W <= 0 || g.H <= 0 || g.X < 0 || g.X+g.W > 24 {
			t.Errorf("%s: gridPos %+v outside the 24 columns", where, g)
		}
		if len(p.Targets) == 0 {
			t.Errorf("%s: no queries", where)
		}
		for _, q := range p.Targets {
			if q.Datasource != nil && !usesVariable(q.Datasource) {
				t.Errorf("%s query %s: datasource %+v, want the ${datasource} variable", where, q.RefID, q.Datasource)
			}
			if !strings.Contains(q.Expr, `instance=~"$instance"`) {
				t.Errorf("%s query %s ignores the instance variable: %s", where, q.RefID, q.Expr)
			}
			// Recording rules are the one place promtool parses an
			// expression offline; Grafana's variables get typical values.
			fmt.Fprintf(&rules, "      - record: dashboard:panel_%d:%s\n        expr: %s\n", p.ID, q.RefID, jsonString(grafanaVars(q.Expr)))
		}
	}
	overlapping(t, d.panels())
	f := filepath.Join(t.TempDir(), "dashboard-queries.yml")
	if err := os.WriteFile(f, []byte(rules.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	runPromtool(t, "check", "rules", f)
}

func usesVariable(ds *dsRef) bool {
	return ds != nil && ds.Type == "prometheus" && ds.UID == "${datasource}"
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

var grafanaVar = regexp.MustCompile(`\$\{?(\w+)\}?`)

// grafanaVars replaces dashboard variables with values a query could get.
func grafanaVars(expr string) string {
	return grafanaVar.ReplaceAllStringFunc(expr, func(v string) string {
		switch strings.Trim(v, "${}") {
		case "__rate_interval", "__interval":
			return "5m"
		case "__range":
			return "1h"
		}
		return ".*"
	})
}

// overlapping reports panels that share grid cells: Grafana would move them.
func overlapping(t *testing.T, ps []dashPanel) {
	t.Helper()
	for i, a := range ps {
		for _, b := range ps[i+1:] {
			ga, gb := a.GridPos, b.GridPos
			if ga.X < gb.X+gb.W && gb.X < ga.X+ga.W && ga.Y < gb.Y+gb.H && gb.Y < ga.Y+ga.H {
				t.Errorf("panels %q and %q overlap: %+v %+v", a.Title, b.Title, ga, gb)
			}
		}
	}
}

// usedMetricNames maps every metric name the dashboard and the alert rules
// query to where it is used.
func usedMetricNames(t *testing.T) map[string][]string {
	t.Helper()
	used := map[string][]string{}
	add := func(where, expr string) {
		names, err := promqlMetricNames(expr)
		if err != nil {
			t.Fatalf("%s: %v", where, err)
		}
		for _, n := range names {
			used[n] = append(used[n], where)
		}
	}
	d := readDashboard(t)
	for _, v := range d.Templating.List {
		if m := regexp.MustCompile(`^label_values\((\w+)`).FindStringSubmatch(v.Definition); m != nil {
			add("dashboard variable "+v.Name, m[1])
		}
	}
	for _, p := range d.panels() {
		for _, q := range p.Targets {
			add(fmt.Sprintf("dashboard panel %q", p.Title), q.Expr)
		}
	}
	for _, g := range readAlerts(t).Groups {
		for _, r := range g.Rules {
			add("alert "+r.Alert, r.Expr)
		}
	}
	return used
}

// fromPrometheus are series Prometheus makes itself when it scrapes.
var fromPrometheus = map[string]bool{"up": true}

// TestObservabilityMetricNames runs bootsrv with DHCP in a namespace,
// makes it create the series that only appear on first use (FTP transfers
// and refusals, DHCP messages, replies and drops), and checks that every
// metric the dashboard and the rules name is in its /metrics.
func TestObservabilityMetricNames(t *testing.T) {
	used := usedMetricNames(t)
	if len(used) < 20 {
		t.Fatalf("only %d metric names found in the dashboard and rules: %v", len(used), used)
	}
	requireTool(t, "busybox")
	requireTool(t, "curl")
	n := startDHCPNet(t, "1h", "")

	script, _ := udhcpcScript(t)
	if out, err := n.inCli(t, 30*time.Second, "busybox", "udhcpc", "-i", "c0", "-f", "-q", "-n", "-t", "5", "-s", script); err != nil {
		t.Fatalf("udhcpc: %v\n%s\n%s", err, out, n.proc.Logs())
	}
	// A datagram too short to be DHCP: a drop (reason malformed).
	mustRun(t, "ip", "-n", n.cli, "addr", "add", "10.77.0.2/24", "dev", "c0")
	conn := listenInNetns(t, n.cli, "10.77.0.2:0")
	defer conn.Close()
	if _, err := conn.WriteTo([]byte("not dhcp"), &net.UDPAddr{IP: net.IPv4(10, 77, 0, 1), Port: 67}); err != nil {
		t.Fatal(err)
	}
	// One FTP download and one refused (missing file).
	if err := os.WriteFile(filepath.Join(n.proc.Root, "boot.txt"), []byte("hello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ftp := "ftp://" + n.proc.Addr("ftp") + "/"
	curl := inNetns(n.srv, "curl", "-sS", "-o", "/dev/null", "-w", "%{response_code}\n")
	if out, err := runTool(t, 30*time.Second, curl[0], append(curl[1:], ftp+"boot.txt", ftp+"missing.txt")...); !strings.Contains(out, "226") || !strings.Contains(out, "550") {
		t.Fatalf("curl ftp: %v\n%s", err, out)
	}
	waitFor(t, 10*time.Second, "the malformed datagram to be counted", func() bool {
		return n.metric(t, `bootsrv_dhcp_drops_total{reason="malformed"}`) >= 1
	})

	argv := inNetns(n.srv, "curl", "-fsS", "http://"+n.proc.Addr("http")+"/metrics")
	out, err := exec.Command(argv[0], argv[1:]...).Output()
	if err != nil {
		t.Fatalf("metrics: %v", err)
	}
	families := metricFamilies(string(out))
	var checked []string
	for name, where := range used {
		if fromPrometheus[name] {
			continue
		}
		if !servedName(families, name) {
			t.Errorf("%s is not in bootsrv's /metrics; used by %s", name, strings.Join(slices.Compact(where), ", "))
			continue
		}
		checked = append(checked, name)
	}
	sort.Strings(checked)
	t.Logf("%d metric names checked against a running bootsrv: %s", len(checked), strings.Join(checked, " "))
}

// metricFamilies maps each family in an exposition to its type.
func metricFamilies(text string) map[string]string {
	fams := map[string]string{}
	for _, line := range strings.Split(text, "\n") {
		if f := strings.Fields(line); len(f) == 4 && f[0] == "#" && f[1] == "TYPE" {
			fams[f[2]] = f[3]
		}
	}
	return fams
}

// servedName reports whether a queried name is a served family or a
// histogram's (or summary's) _bucket, _sum or _count series.
func servedName(fams map[string]string, name string) bool {
	if _, ok := fams[name]; ok {
		return true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		base, ok := strings.CutSuffix(name, suffix)
		if !ok {
			continue
		}
		switch fams[base] {
		case "histogram":
			return true
		case "summary":
			return suffix != "_bucket"
		}
	}
	return false
}
