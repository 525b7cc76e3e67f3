package prose

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

func sentencesOf(text string) []string {
	var out []string
	for _, sp := range Split(text) {
		s := text[sp.Start:sp.End]
		if sp.Heading {
			s = "H: " + s
		}
		out = append(out, s)
	}
	return out
}

func TestSplit(t *testing.T) {
	tests := []struct {
		name string
		text string
		want []string
	}{
		{"empty", "", nil},
		{"space only", " \n\t\n ", nil},
		{"one", "One sentence.", []string{"One sentence."}},
		{"no final punctuation", "It works", []string{"It works"}},
		{"three", "First one. Second one! Third one? ", []string{"First one.", "Second one!", "Third one?"}},
		{"decimal", "It costs 3.5 dollars. Pi is 3.14159.", []string{"It costs 3.5 dollars.", "Pi is 3.14159."}},
		{"e.g. and i.e.", "Use a tool, e.g. a hammer. Then stop, i.e. rest.", []string{"Use a tool, e.g. a hammer.", "Then stop, i.e. rest."}},
		{"title", "Dr. Smith met Mrs. Jones. They talked.", []string{"Dr. Smith met Mrs. Jones.", "They talked."}},
		{"initials", "J. R. R. Tolkien wrote it. It sold well.", []string{"J. R. R. Tolkien wrote it.", "It sold well."}},
		{"lowercase after period", "See approx. five items. Done.", []string{"See approx. five items.", "Done."}},
		{"etc before capital", "Apples, pears, etc. The rest is fruit too.", []string{"Apples, pears, etc.", "The rest is fruit too."}},
		{"acronym before name", "The U.S. Army is large. It lives in the U.S. Then it moves.", []string{"The U.S. Army is large.", "It lives in the U.S.", "Then it moves."}},
		{"time", "We meet at 3 p.m. on Monday. Bring food.", []string{"We meet at 3 p.m. on Monday.", "Bring food."}},
		{"domain", "Visit example.com for details. Thanks.", []string{"Visit example.com for details.", "Thanks."}},
		{"closing quote", `He said "Stop." Then he left.`, []string{`He said "Stop."`, "Then he left."}},
		{"closing bracket", "It works (mostly.) Next one.", []string{"It works (mostly.)", "Next one."}},
		{"ellipsis", "Wait... what happened? Well… Nothing.", []string{"Wait... what happened?", "Well…", "Nothing."}},
		{"interrobang", "Really?! Yes.", []string{"Really?!", "Yes."}},
		{"ideographic", "日本語の文です。二つ目！三つ目？", []string{"日本語の文です。", "二つ目！", "三つ目？"}},
		{"wrapped prose", "This line is wrapped\nacross two lines. And\nthis one too.", []string{"This line is wrapped\nacross two lines.", "And\nthis one too."}},
		{"paragraphs", "No period here\n\nNew paragraph", []string{"H: No period here", "New paragraph"}},
		{"markdown heading", "# Pricing\nThe free tier is free.\n## Limits\nTen a day.", []string{"H: # Pricing", "The free tier is free.", "H: ## Limits", "Ten a day."}},
		{"title line", "Refund policy\nYou get your money back within 14 days.", []string{"H: Refund policy", "You get your money back within 14 days."}},
		{"short line then lowercase", "Born in\nthe city. Done.", []string{"Born in\nthe city.", "Done."}},
		{"bullets", "Formats:\n- PDF files\n- Word files\n* HTML", []string{"Formats:", "- PDF files", "- Word files", "* HTML"}},
		{"numbered", "1. Open the box. Carefully.\n2) Take it out", []string{"1. Open the box.", "Carefully.", "2) Take it out"}},
		{"list item continues indented", "- a long item that\n  goes on\n- next", []string{"- a long item that\n  goes on", "- next"}},
		{"table", "| a | b |\n| 1 | 2 |", []string{"| a | b |", "| 1 | 2 |"}},
		{"last line short is no heading", "Intro sentence.\nSee you", []string{"Intro sentence.", "See you"}},
		{"crlf", "One.\r\nTwo.\r\n", []string{"One.", "Two."}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := sentencesOf(tt.text)
			if strings.Join(got, "|") != strings.Join(tt.want, "|") || len(got) != len(tt.want) {
				t.Errorf("Split(%q)\n got %q\nwant %q", tt.text, got, tt.want)
			}
			checkSpans(t, tt.text, Split(tt.text))
		})
	}
}

func TestSentence(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Plain  sentence\n here.", "Plain sentence here."},
		{"- dynamic typing", "Dynamic typing."},
		{"1. Open the box", "Open the box."},
		{"* done!", "Done!"},
		{"- ends with colon:", "Ends with colon."},
		{"## Limits", "Limits."},
	}
	for _, tt := range tests {
		if got := Sentence(tt.in); got != tt.want {
			t.Errorf("Sentence(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestWords(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"Hello, World!", []string{"hello", "world"}},
		{"It costs 3.5 or 1,000 units.", []string{"it", "costs", "3.5", "or", "1,000", "units"}},
		{"don't stop", []string{"don", "t", "stop"}},
		{"naïve café ÜBER", []string{"naïve", "café", "über"}},
		{"end 3.", []string{"end", "3"}},
		{"", nil},
	}
	for _, tt := range tests {
		if got := Words(nil, tt.in); strings.Join(got, "|") != strings.Join(tt.want, "|") {
			t.Errorf("Words(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestStem(t *testing.T) {
	tests := []struct{ in, want string }{
		{"refunds", "refund"}, {"policies", "policy"}, {"boxes", "boxe"}, {"box", "box"},
		{"status", "status"}, {"glass", "glass"}, {"toes", "toe"}, {"bus", "bus"}, {"its", "its"},
	}
	for _, tt := range tests {
		if got := Stem(tt.in); got != tt.want {
			t.Errorf("Stem(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// checkSpans verifies that spans are trimmed, in order, and together with
// the white space between them make up text.
func checkSpans(t *testing.T, text string, spans []Span) {
	t.Helper()
	isSpace := func(s string) bool {
		for len(s) > 0 {
			r, size := utf8.DecodeRuneInString(s)
			if !unicode.IsSpace(r) || r == utf8.RuneError && size == 1 {
				return false
			}
			s = s[size:]
		}
		return true
	}
	prev := 0
	for i, sp := range spans {
		if sp.Start < prev || sp.End <= sp.Start || sp.End > len(text) {
			t.Fatalf("span %d [%d,%d) out of order or empty (previous end %d, len %d)", i, sp.Start, sp.End, prev, len(text))
		}
		if !isSpace(text[prev:sp.Start]) {
			t.Fatalf("text %q between spans %d and %d is not white space", text[prev:sp.Start], i-1, i)
		}
		s := text[sp.Start:sp.End]
		first, _ := utf8.DecodeRuneInString(s)
		last, _ := utf8.DecodeLastRuneInString(s)
		if unicode.IsSpace(first) || unicode.IsSpace(last) {
			t.Fatalf("span %d %q is not trimmed", i, s)
		}
		prev = sp.End
	}
	if !isSpace(text[prev:]) {
		t.Fatalf("text %q after the last span is not white space", text[prev:])
	}
}

func FuzzSplit(f *testing.F) {
	for _, s := range []string{
		"", "Dr. Smith paid $3.50, e.g. for lunch. Then he left!",
		"# Title\nBody text.\n\n- item one\n- item two\n1. first\n| a | b |",
		"Wait... what?! \"Quoted.\" (Bracketed.) U.S. Army. etc. The end",
		"日本語。テスト！\u00a0\u2028next\u0085line", "a\xffb. \xfe C.", "\n\n\r\n  \t",
		"x.\n.\n..\n...\n-\n- \n1.\n1. \na)\n#\n##x",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		spans := Split(text)
		checkSpans(t, text, spans)
		for _, sp := range spans {
			Sentence(text[sp.Start:sp.End])
		}
	})
}

// Sentences, the splitter of the chunker, follows the one list of
// abbreviations and ends a sentence at a blank line.
func TestSentences(t *testing.T) {
	for _, tt := range []struct {
		text string
		want []string
	}{
		{"See Fig. 3 for the layout. No. 5 is next.", []string{"See Fig. 3 for the layout.", "No. 5 is next."}},
		{"Is it on? The answer is no. Then we stop.", []string{"Is it on?", "The answer is no.", "Then we stop."}},
		{"It opened on Jan. 12 in Paris. It closed in Jan. The crowd left.", []string{"It opened on Jan. 12 in Paris.", "It closed in Jan.", "The crowd left."}},
		{"Ask Mt. Fuji guides, e.g. Dr. Ito. They know.", []string{"Ask Mt. Fuji guides, e.g. Dr. Ito.", "They know."}},
		{"First part\n\nsecond part. Third", []string{"First part", "second part.", "Third"}},
		{"  ", nil},
	} {
		var got []string
		for _, sp := range Sentences(tt.text, 0, len(tt.text), nil) {
			got = append(got, tt.text[sp.Start:sp.End])
		}
		if strings.Join(got, "|") != strings.Join(tt.want, "|") || len(got) != len(tt.want) {
			t.Errorf("Sentences(%q)\n got %q\nwant %q", tt.text, got, tt.want)
		}
	}
}

// A short question on a line of its own before more text is a heading, so
// that an answer never quotes the question it answers.
func TestQuestionLineIsHeading(t *testing.T) {
	text := "What is Crispy Enigma?\n\nCrispy Enigma is a tenant-first AI platform."
	spans := Split(text)
	if len(spans) != 2 || !spans[0].Heading || spans[1].Heading {
		t.Fatalf("spans = %+v, want the question as a heading and the answer as prose", spans)
	}
	// A question inside a paragraph stays a sentence.
	if spans := Split("Why does it matter? Because tenants share nothing."); len(spans) != 2 || spans[0].Heading {
		t.Errorf("spans = %+v", spans)
	}
}
