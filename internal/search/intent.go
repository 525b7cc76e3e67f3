package search

import (
	"regexp"
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"

	"github.com/crispy-enigma/crispy/api"
)

// Normalize puts a query in the form the cache and the rules see: Unicode
// NFKC, one space between words, no surrounding space or quotes.
func Normalize(q string) string {
	q = norm.NFKC.String(q)
	q = strings.Join(strings.Fields(q), " ")
	return strings.Trim(q, "\"'“”‘’` ")
}

// cacheForm is the form of a normalised query that keys the cache: case
// and a final full stop or exclamation mark do not change the answer. A
// final question mark does (it makes the query a question), and so does
// any other character ("C#", "5%").
func cacheForm(q string) string {
	return strings.ToLower(strings.TrimRightFunc(q, func(r rune) bool { return r == '.' || r == '!' || unicode.IsSpace(r) }))
}

// Plan is what the rewrite stage decides: the intent and the query that
// retrieval runs.
type Plan struct {
	Intent    string
	Rewritten string
	// By is "rules" or "model": who decided.
	By string
}

// chitchat matches a whole query that is a greeting, thanks, farewell or a
// question about the assistant itself, with its reply.
var chitchat = []struct {
	re    *regexp.Regexp
	reply string
}{
	{regexp.MustCompile(`^(hi|hello|hey|hiya|howdy|greetings|good (morning|afternoon|evening|day))( there| all| everyone)?$`),
		"Hello! Ask me a question and I will answer from this knowledge base, citing the passages I use."},
	{regexp.MustCompile(`^(thanks|thank you|thx|ty|cheers|much appreciated)( (so|very) much)?( a lot)?$`),
		"You're welcome."},
	{regexp.MustCompile(`^(bye|goodbye|good bye|see you|see ya|farewell)( later| soon)?$`),
		"Goodbye."},
	{regexp.MustCompile(`^(how are you( doing)?|how's it going|what's up|who are you|what are you|what can you do|are you (a bot|human|real))$`),
		"I am a search assistant: I answer questions from this knowledge base and cite the passages I use."},
	{regexp.MustCompile(`^(ok|okay|cool|great|nice|awesome|lol|yes|no)$`),
		"Ask me a question and I will answer from this knowledge base."},
}

// questionWords start a question.
var questionWords = map[string]bool{
	"what": true, "who": true, "whom": true, "whose": true, "when": true, "where": true, "why": true, "how": true,
	"which": true, "is": true, "are": true, "was": true, "were": true, "do": true, "does": true, "did": true,
	"can": true, "could": true, "should": true, "would": true, "will": true, "shall": true, "may": true,
	"has": true, "have": true, "had": true, "explain": true, "describe": true, "compare": true, "define": true,
	"list": true, "summarize": true, "summarise": true,
}

// navCues mark a query that looks for a page rather than an answer.
var navCues = regexp.MustCompile(`(?i)(^|\b)(go to|take me to|open|link (to|for)|url (of|for)|where (can|do) i find|page (about|for|on)|homepage|home page|website|site for|docs for|documentation (for|on|of))(\b|$)|(^|\s)(page|docs|documentation|link|url|website)$|^https?://|^www\.`)

// fillers are leading phrases that carry no meaning for retrieval.
var fillers = regexp.MustCompile(`(?i)^(please\s+|kindly\s+|(hey|hi|hello),\s+|(can|could|would|will) you( please)?\s+(tell|show|help|explain to|find)( me)?( with)?\s+|(can|could) i (ask|know)\s+|tell me\s+|show me\s+|help me (with|find|understand)\s+|i('d| would) like to know\s+|i want to know\s+|i wonder\s+|do you know\s+|search( for)?\s+|look up\s+|find( me)?\s+)+`)

// trailers are closing words that carry no meaning for retrieval.
var trailers = regexp.MustCompile(`(?i)([\s,]+(please|thanks|thank you|thx))+[.!?]*$`)

// Rules decides the intent of a normalised query and rewrites it for
// retrieval, offline. It returns the chit-chat reply when the intent is
// chit-chat.
//
//   - chit-chat: the whole query is a greeting, thanks, farewell or a
//     question about the assistant (a closed list of patterns);
//   - navigational: the query names a page, site, link or documentation
//     ("pricing page", "go to billing", "docs for the API", a URL), or
//     (decided after retrieval, see refineNavigational) it is a short
//     keyword query that matches the title of the best document;
//   - question: it ends with "?", starts with a question word ("what",
//     "how", "does", "explain", ...), or has six words or more;
//   - keyword lookup: anything else (a few words, no question form).
//
// The rewrite drops leading filler ("can you tell me", "please", "search
// for"), trailing politeness and final punctuation; a query that would
// rewrite to nothing is kept as it was.
func Rules(q string) (Plan, string) {
	lower := strings.ToLower(strings.TrimRightFunc(q, func(r rune) bool { return r == '!' || r == '.' || r == '?' || unicode.IsSpace(r) }))
	lower = strings.TrimRight(strings.ReplaceAll(lower, ",", ""), " ")
	for _, c := range chitchat {
		if c.re.MatchString(lower) {
			return Plan{Intent: api.IntentChitChat, Rewritten: q, By: "rules"}, c.reply
		}
	}
	rewritten := rewrite(q)
	words := strings.Fields(rewritten)
	first := ""
	if len(words) > 0 {
		first = strings.ToLower(strings.Trim(words[0], ",;:"))
	}
	intent := api.IntentKeyword
	switch {
	case navCues.MatchString(rewritten):
		intent = api.IntentNavigational
	case strings.HasSuffix(q, "?"), questionWords[first], len(words) >= 6:
		intent = api.IntentQuestion
	}
	return Plan{Intent: intent, Rewritten: rewritten, By: "rules"}, ""
}

// rewrite strips filler and final punctuation from q.
func rewrite(q string) string {
	out := trailers.ReplaceAllString(q, "")
	out = fillers.ReplaceAllString(out, "")
	out = strings.TrimRightFunc(out, func(r rune) bool { return r == '?' || r == '!' || r == '.' || unicode.IsSpace(r) })
	out = strings.TrimSpace(out)
	if out == "" {
		return q
	}
	return out
}
