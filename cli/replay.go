package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/nuxari/nuxari/accesspolicy"
	"github.com/nuxari/nuxari/evidence/archive"
	ec "github.com/nuxari/nuxari/internal/eventcatalog"
)

// Replaying access decisions. Every access.request.submitted and
// access.request.denied event records the input its policies saw and each
// policy version's verdict; every access.policy.created and
// access.policy.updated event holds a version's full text. Verify decides
// each request again with accesspolicy, as the server does, and compares.
// It reads the events as archive.VerifyWith checks them, so the package
// is read once and memory grows with the policy versions and the
// decisions it reports (disagreements and those not replayed), not with
// the events.

// replayTypes are the event types replay reads.
var replayTypes = []string{ec.AccessPolicyCreated, ec.AccessPolicyUpdated, ec.AccessRequestSubmitted, ec.AccessRequestDenied}

// decisionsReport is the "decisions" member of verify --json: what the
// replay of a package's decisions found.
type decisionsReport struct {
	// Count is the number of decision events in the package.
	Count int `json:"count"`
	// Replayed = Agreed + Disagreed; Count = Replayed + NotReplayable.
	Replayed      int `json:"replayed"`
	Agreed        int `json:"agreed"`
	Disagreed     int `json:"disagreed"`
	NotReplayable int `json:"not_replayable"`
	// Disagreements lists the decisions whose replay differs from their
	// record, in index order.
	Disagreements []disagreement `json:"disagreements"`
	// NotReplayed lists the decisions that could not be replayed, in
	// index order.
	NotReplayed []notReplayed `json:"not_replayed"`
}

// verdict is one policy version's answer, as a decision records it.
type verdict struct {
	PolicyID      string   `json:"policy_id"`
	PolicyVersion int64    `json:"policy_version"`
	Allowed       bool     `json:"allowed"`
	Reasons       []string `json:"reasons"`
}

// outcome is what the policies decided: allowed or not, the policy
// version that allowed it ("" and 0 when none did), and every verdict.
type outcome struct {
	Allowed       bool      `json:"allowed"`
	PolicyID      string    `json:"policy_id"`
	PolicyVersion int64     `json:"policy_version"`
	Evaluated     []verdict `json:"evaluated"`
}

// disagreement is a decision whose replay differs from its record.
type disagreement struct {
	Index uint64 `json:"index"`
	Line  int64  `json:"line"`
	Type  string `json:"type"`
	// Differences says what differs, one sentence each.
	Differences []string `json:"differences"`
	Recorded    outcome  `json:"recorded"`
	Replayed    outcome  `json:"replayed"`
}

// notReplayed is a decision that could not be replayed, and why.
type notReplayed struct {
	Index  uint64 `json:"index"`
	Line   int64  `json:"line"`
	Type   string `json:"type"`
	Reason string `json:"reason"`
	// Missing are the policy versions it was decided under whose text is
	// not in the package.
	Missing []policyRef `json:"missing"`
	// problems are why the other texts it needs cannot be used.
	problems []string
}

// policyRef names one version of a policy.
type policyRef struct {
	PolicyID      string `json:"policy_id"`
	PolicyVersion int64  `json:"policy_version"`
}

func (r policyRef) String() string {
	return "policy " + r.PolicyID + " v" + strconv.FormatInt(r.PolicyVersion, 10)
}

// recordedDecision is the "decision" member of a decision event's data.
type recordedDecision struct {
	Allowed       bool               `json:"allowed"`
	PolicyID      string             `json:"policy_id"`
	PolicyVersion int64              `json:"policy_version"`
	Input         accesspolicy.Input `json:"input"`
	Evaluated     []verdict          `json:"evaluated"`
}

// decisionEvent is what replay reads of a decision event.
type decisionEvent struct {
	Data struct {
		Decision recordedDecision `json:"decision"`
	} `json:"data"`
}

// policyEvent is what replay reads of a policy version's event.
type policyEvent struct {
	Subject string `json:"subject"`
	Data    struct {
		Version int64               `json:"version"`
		Policy  accesspolicy.Policy `json:"policy"`
	} `json:"data"`
}

// The structs whose every member replay knows: no other member is
// allowed, so that one this nuxctl does not know (a newer server's policy
// feature, say) is never silently ignored.
var closedTypes = map[reflect.Type]bool{
	reflect.TypeFor[recordedDecision]():              true,
	reflect.TypeFor[verdict]():                       true,
	reflect.TypeFor[accesspolicy.Input]():            true,
	reflect.TypeFor[accesspolicy.InputRequest]():     true,
	reflect.TypeFor[accesspolicy.InputRequester]():   true,
	reflect.TypeFor[accesspolicy.InputIdentity]():    true,
	reflect.TypeFor[accesspolicy.InputEntitlement](): true,
	reflect.TypeFor[accesspolicy.Policy]():           true,
}

// policyText is one policy version's text from the package, or why it
// cannot be used.
type policyText struct {
	policy  *accesspolicy.Policy
	raw     []byte // the text's JSON, to tell two texts of a version apart
	index   uint64 // the first event that holds it
	problem string
}

// replayer replays the decisions of a package's events, given in index
// order.
type replayer struct {
	policies map[policyRef]*policyText
	r        decisionsReport
}

func newReplayer() *replayer {
	return &replayer{policies: map[policyRef]*policyText{}}
}

// event reads one event of the package (archive.Options.Events).
func (p *replayer) event(ev archive.Event) {
	switch ev.Type {
	case ec.AccessPolicyCreated, ec.AccessPolicyUpdated:
		p.policy(ev)
	case ec.AccessRequestSubmitted, ec.AccessRequestDenied:
		p.decision(ev)
	}
}

// policy records a policy version's text.
func (p *replayer) policy(ev archive.Event) {
	var pe policyEvent
	if err := exactJSON(ev.JSON, &pe); err != nil {
		// Name the version if a lenient reading can, so that its
		// decisions say why they cannot be replayed.
		var loose struct {
			Data struct {
				Version int64 `json:"version"`
				Policy  struct {
					ID string `json:"id"`
				} `json:"policy"`
			} `json:"data"`
		}
		if json.Unmarshal(ev.JSON, &loose) == nil && loose.Data.Policy.ID != "" {
			p.add(policyRef{loose.Data.Policy.ID, loose.Data.Version}, &policyText{index: ev.Index,
				problem: fmt.Sprintf("its text (leaf index %d) cannot be read: %v", ev.Index, err)})
		}
		return
	}
	pol := &pe.Data.Policy
	ref := policyRef{pol.ID, pe.Data.Version}
	t := &policyText{policy: pol, index: ev.Index}
	t.raw, _ = json.Marshal(pol)
	switch {
	case pol.Version != pe.Data.Version:
		t.problem = fmt.Sprintf("its event (leaf index %d) gives version %d, its text version %d", ev.Index, pe.Data.Version, pol.Version)
	case pe.Subject != "policy:"+pol.ID:
		t.problem = fmt.Sprintf("its event (leaf index %d) has subject %q, not %q", ev.Index, pe.Subject, "policy:"+pol.ID)
	}
	p.add(ref, t)
}

// add records a version's text; a second, different text for one
// version makes it unusable.
func (p *replayer) add(ref policyRef, t *policyText) {
	old, ok := p.policies[ref]
	switch {
	case !ok:
		p.policies[ref] = t
	case old.problem == "" && t.problem == "" && bytes.Equal(old.raw, t.raw):
	case old.problem == "":
		p.policies[ref] = &policyText{index: old.index,
			problem: fmt.Sprintf("the package holds two different texts of it (leaf indexes %d and %d)", old.index, t.index)}
	}
}

// decision replays one decision.
func (p *replayer) decision(ev archive.Event) {
	p.r.Count++
	nr := notReplayed{Index: ev.Index, Line: ev.Line, Type: ev.Type, Missing: []policyRef{}}
	var de decisionEvent
	if err := exactJSON(ev.JSON, &de); err != nil {
		nr.Reason = "the decision cannot be read: " + err.Error()
		p.notReplayed(nr)
		return
	}
	d := &de.Data.Decision
	texts := make([]*accesspolicy.Policy, len(d.Evaluated))
	var problems []string
	for i, v := range d.Evaluated {
		ref := policyRef{v.PolicyID, v.PolicyVersion}
		t, ok := p.policies[ref]
		switch {
		case !ok:
			nr.Missing = append(nr.Missing, ref)
		case t.problem != "":
			problems = append(problems, ref.String()+": "+t.problem)
		default:
			texts[i] = t.policy
		}
	}
	if len(nr.Missing) > 0 || len(problems) > 0 {
		// The reason is given in finish, which knows the later events.
		nr.problems = problems
		p.notReplayed(nr)
		return
	}
	p.r.Replayed++
	rec, got, diffs := replay(ev.Type, d, texts)
	if len(diffs) == 0 {
		p.r.Agreed++
		return
	}
	p.r.Disagreed++
	p.r.Disagreements = append(p.r.Disagreements, disagreement{
		Index: ev.Index, Line: ev.Line, Type: ev.Type, Differences: diffs, Recorded: rec, Replayed: got,
	})
}

func (p *replayer) notReplayed(nr notReplayed) {
	p.r.NotReplayable++
	p.r.NotReplayed = append(p.r.NotReplayed, nr)
}

// reason says why a decision that needs texts cannot be replayed:
// missing, or unusable (problems).
func (p *replayer) reason(missing []policyRef, problems []string) string {
	var why []string
	if len(missing) > 0 {
		names := make([]string, len(missing))
		var later []string
		for i, ref := range missing {
			names[i] = ref.String()
			// A version whose text the log records only after a decision
			// made under it.
			if t, ok := p.policies[ref]; ok {
				later = append(later, fmt.Sprintf("%s is recorded only after the decision (leaf index %d)", ref, t.index))
			}
		}
		s := "the text of " + names[0] + " is not in the package"
		if len(names) > 1 {
			s = "the texts of " + strings.Join(names, ", ") + " are not in the package"
		}
		if len(later) > 0 {
			s += " before it: " + strings.Join(later, "; ")
		}
		why = append(why, s)
	}
	return strings.Join(append(why, problems...), "; ")
}

// replay decides again the decision d of an event of type typ with the
// policy texts of its verdicts, as the server does: every policy version
// it names, on its recorded input; the first that allows, in policy ID
// order, wins. It returns the recorded and the replayed outcomes and what
// differs.
func replay(typ string, d *recordedDecision, texts []*accesspolicy.Policy) (rec, got outcome, diffs []string) {
	rec = outcome{Allowed: d.Allowed, PolicyID: d.PolicyID, PolicyVersion: d.PolicyVersion, Evaluated: d.Evaluated}
	if rec.Evaluated == nil {
		rec.Evaluated = []verdict{}
	}
	got.Evaluated = make([]verdict, len(d.Evaluated))
	seen := map[string]bool{}
	for i, v := range d.Evaluated {
		ref := policyRef{v.PolicyID, v.PolicyVersion}
		ok, why := texts[i].Decide(d.Input)
		if why == nil {
			why = []string{}
		}
		got.Evaluated[i] = verdict{PolicyID: v.PolicyID, PolicyVersion: v.PolicyVersion, Allowed: ok, Reasons: why}
		switch {
		case ok != v.Allowed:
			diffs = append(diffs, fmt.Sprintf("%s: recorded %s, replay %s", ref, verdictText(v.Allowed, v.Reasons), verdictText(ok, why)))
		case !slices.Equal(v.Reasons, why):
			diffs = append(diffs, fmt.Sprintf("%s: recorded reasons %s, replay gives %s", ref, quoted(v.Reasons), quoted(why)))
		}
		if seen[v.PolicyID] {
			diffs = append(diffs, fmt.Sprintf("policy %s is evaluated more than once", v.PolicyID))
		}
		seen[v.PolicyID] = true
	}
	// The first version that allows, in policy ID order.
	order := make([]int, len(got.Evaluated))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return strings.Compare(got.Evaluated[a].PolicyID, got.Evaluated[b].PolicyID) })
	for _, i := range order {
		if v := got.Evaluated[i]; v.Allowed {
			got.Allowed, got.PolicyID, got.PolicyVersion = true, v.PolicyID, v.PolicyVersion
			break
		}
	}
	if rec.Allowed != got.Allowed || rec.PolicyID != got.PolicyID || rec.PolicyVersion != got.PolicyVersion {
		diffs = append(diffs, fmt.Sprintf("outcome: recorded %s, replay %s", outcomeText(rec), outcomeText(got)))
	}
	if want := typ == ec.AccessRequestSubmitted; rec.Allowed != want {
		diffs = append(diffs, fmt.Sprintf("an %s event records %s", typ, outcomeText(rec)))
	}
	return rec, got, diffs
}

func verdictText(allowed bool, reasons []string) string {
	if allowed {
		return "allowed"
	}
	if len(reasons) == 0 {
		return "denied"
	}
	return "denied: " + strings.Join(reasons, "; ")
}

func outcomeText(o outcome) string {
	if !o.Allowed {
		return "denied"
	}
	return "allowed by " + policyRef{o.PolicyID, o.PolicyVersion}.String()
}

func quoted(l []string) string {
	q := make([]string, len(l))
	for i, s := range l {
		q[i] = strconv.Quote(s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// finish returns the report, or nil when the package holds no decision.
func (p *replayer) finish() *decisionsReport {
	if p.r.Count == 0 {
		return nil
	}
	r := p.r
	if r.Disagreements == nil {
		r.Disagreements = []disagreement{}
	}
	if r.NotReplayed == nil {
		r.NotReplayed = []notReplayed{}
	}
	for i, nr := range r.NotReplayed {
		if nr.Reason == "" {
			r.NotReplayed[i].Reason = p.reason(nr.Missing, nr.problems)
		}
	}
	return &r
}

// exactJSON reads the JSON object data into v (a pointer to a struct) as
// encoding/json does, but first refuses what would let two readers read
// it differently, or let a member go unread: a member given twice in one
// object, a member name that differs from a known one only in letter
// case, null, and a missing member (but those tagged omitempty or
// omitzero). The structs of closedTypes allow no other member; in the
// others (the event around the decision) unknown members are skipped.
func exactJSON(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := walkExact(dec, reflect.TypeOf(v).Elem(), "event"); err != nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return err
	}
	return nil
}

var unmarshalerType = reflect.TypeFor[json.Unmarshaler]()

// walkExact reads one JSON value of Go type t from dec, checking it.
func walkExact(dec *json.Decoder, t reflect.Type, path string) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if tok == nil {
		return fmt.Errorf("%s is null", path)
	}
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) {
		return skipValue(dec, tok)
	}
	delim, isDelim := tok.(json.Delim)
	switch {
	case isDelim && delim == '{' && t.Kind() == reflect.Struct:
		return walkStruct(dec, t, path)
	case isDelim && delim == '{' && t.Kind() == reflect.Map:
		seen := map[string]bool{}
		for dec.More() {
			k, err := key(dec, path, seen)
			if err != nil {
				return err
			}
			if err := walkExact(dec, t.Elem(), path+"."+k); err != nil {
				return err
			}
		}
		_, err := dec.Token()
		return err
	case isDelim && delim == '[' && t.Kind() == reflect.Slice:
		for i := 0; dec.More(); i++ {
			if err := walkExact(dec, t.Elem(), path+"["+strconv.Itoa(i)+"]"); err != nil {
				return err
			}
		}
		_, err := dec.Token()
		return err
	}
	// A value of another type than t's: json.Unmarshal says so.
	return skipValue(dec, tok)
}

func walkStruct(dec *json.Decoder, t reflect.Type, path string) error {
	members := map[string]reflect.Type{}
	optional := map[string]bool{}
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		members[name] = f.Type
		optional[name] = strings.Contains(opts, "omitempty") || strings.Contains(opts, "omitzero")
	}
	closed := closedTypes[t]
	seen := map[string]bool{}
	for dec.More() {
		k, err := key(dec, path, seen)
		if err != nil {
			return err
		}
		ft, known := members[k]
		if !known {
			for m := range members {
				if strings.EqualFold(m, k) {
					return fmt.Errorf("%s: member %q differs in letter case from %q", path, k, m)
				}
			}
			if closed {
				return fmt.Errorf("%s: unknown member %q", path, k)
			}
			tok, err := dec.Token()
			if err != nil {
				return err
			}
			if err := skipValue(dec, tok); err != nil {
				return err
			}
			continue
		}
		if err := walkExact(dec, ft, path+"."+k); err != nil {
			return err
		}
	}
	for _, m := range slices.Sorted(maps.Keys(members)) {
		if !seen[m] && !optional[m] {
			return fmt.Errorf("%s: member %q is missing", path, m)
		}
	}
	_, err := dec.Token()
	return err
}

// key reads an object's member name, refusing a repeated one.
func key(dec *json.Decoder, path string, seen map[string]bool) (string, error) {
	tok, err := dec.Token()
	if err != nil {
		return "", err
	}
	k, ok := tok.(string)
	if !ok {
		return "", errors.New(path + ": malformed object")
	}
	if seen[k] {
		return "", fmt.Errorf("%s: member %q occurs twice", path, k)
	}
	seen[k] = true
	return k, nil
}

// skipValue reads the rest of the value that starts with tok.
func skipValue(dec *json.Decoder, tok json.Token) error {
	d, ok := tok.(json.Delim)
	if !ok || d == '}' || d == ']' {
		return nil
	}
	for depth := 1; depth > 0; {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		if d, ok := tok.(json.Delim); ok {
			if d == '{' || d == '[' {
				depth++
			} else {
				depth--
			}
		}
	}
	return nil
}

// maxIndexesShown bounds the leaf indexes one text line lists.
const maxIndexesShown = 10

// printDecisions prints what the replay found, after a package's report.
func printDecisions(e *env, d *decisionsReport) {
	w := e.stdout
	fields(w, "Decisions", fmt.Sprintf("%d in the package: %d replayed and agree, %d disagree, %d cannot be replayed",
		d.Count, d.Agreed, d.Disagreed, d.NotReplayable))
	for _, x := range d.Disagreements {
		fmt.Fprintf(w, "DISAGREES: leaf index %d (%s line %d), %s\n", x.Index, archive.FileEvents, x.Line, printable(x.Type))
		for _, diff := range x.Differences {
			fmt.Fprintf(w, "  %s\n", printable(diff))
		}
	}
	// The decisions that cannot be replayed, by reason, in order.
	var reasons []string
	byReason := map[string][]uint64{}
	for _, nr := range d.NotReplayed {
		if byReason[nr.Reason] == nil {
			reasons = append(reasons, nr.Reason)
		}
		byReason[nr.Reason] = append(byReason[nr.Reason], nr.Index)
	}
	for _, r := range reasons {
		idx := byReason[r]
		list := make([]string, 0, min(len(idx), maxIndexesShown))
		for _, i := range idx[:min(len(idx), maxIndexesShown)] {
			list = append(list, strconv.FormatUint(i, 10))
		}
		what := "leaf index " + list[0]
		if len(idx) > 1 {
			what = fmt.Sprintf("%d decisions, leaf indexes %s", len(idx), strings.Join(list, ", "))
			if len(idx) > maxIndexesShown {
				what += fmt.Sprintf(" and %d more", len(idx)-maxIndexesShown)
			}
		}
		fmt.Fprintf(w, "CANNOT REPLAY: %s: %s\n", what, printable(r))
	}
}
