package rag

import (
	"regexp"
	"strings"
)

// injectionPatterns match text that addresses a model rather than a reader:
// instructions to ignore its rules, to change role, to reveal its prompt or
// to call tools, and chat-template control tokens. A match flags the passage;
// it is still used, framed as data and marked, so that a document that
// merely discusses prompt injection is not lost.
var injectionPatterns = []struct {
	// hints are words one of which the pattern needs: the expression runs
	// only on text that holds one, since it costs a hundred times more.
	hints []string
	re    *regexp.Regexp
}{
	{[]string{"ignore", "disregard", "forget", "override"},
		regexp.MustCompile(`(?i)\b(ignore|disregard|forget|override)\b.{0,40}\b(previous|prior|above|earlier|all|any|your|the)\b.{0,20}\b(instructions?|rules|prompts?|directions|guidelines)\b`)},
	{[]string{"you are now", "act as", "instruction", "from now on"},
		regexp.MustCompile(`(?i)\byou are now\b|\bact as (an?|the) \w+|\bnew instructions?\s*:|\bfrom now on,? you\b`)},
	{[]string{"system prompt", "instruction"},
		regexp.MustCompile(`(?i)\b(reveal|print|show|repeat|output)\b.{0,30}\b(system prompt|hidden instructions?|your instructions)\b`)},
	{[]string{"tool", "function"},
		regexp.MustCompile(`(?i)\b(call|invoke|run|execute|use)\b.{0,20}\b(the )?(tool|function)s?\b.{0,40}\b(ingest_docs|summarize|extract_entities|classify_intent|tag_chunk|with arguments|now)\b`)},
	{[]string{"<|", "[inst", "[/inst", "<<sys>>", "##"},
		regexp.MustCompile(`(?i)<\|(im_start|im_end|system|assistant|user|endoftext)\|>|\[/?INST\]|<<SYS>>|^\s*#{2,}\s*(system|instruction)s?\b`)},
	{[]string{"ignore", "you must", "you should", "always", "never"},
		regexp.MustCompile(`(?i)\b(assistant|ai|model|llm|chatbot)\s*[:,]\s*(ignore|you must|you should|always|never)\b`)},
}

// LooksLikeInjection reports whether text contains instructions aimed at a
// model.
func LooksLikeInjection(text string) bool {
	lower := strings.ToLower(text)
	for _, p := range injectionPatterns {
		for _, h := range p.hints {
			if strings.Contains(lower, h) {
				if p.re.MatchString(text) {
					return true
				}
				break
			}
		}
	}
	return false
}

var (
	emailPattern = regexp.MustCompile(`[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}`)
	// Phone numbers: an optional +country code, then 7 to 15 digits in
	// groups separated by spaces, dots, dashes or parentheses.
	phonePattern = regexp.MustCompile(`(?:\+\d{1,3}[\s.\-]?)?(?:\(\d{1,4}\)[\s.\-]?)?\d{2,4}(?:[\s.\-]\d{2,4}){1,4}`)
	isoDate      = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)
)

// Redact masks the kinds of personal data listed ("email", "phone").
func Redact(text string, kinds []string) string {
	for _, k := range kinds {
		switch k {
		case "email":
			text = emailPattern.ReplaceAllString(text, "[email]")
		case "phone":
			text = phonePattern.ReplaceAllStringFunc(text, func(m string) string {
				// 7 to 15 digits, and the look of a phone number: a country
				// code, an area code in parentheses, or three groups (but
				// not an ISO date).
				digits, groups := 0, 1
				for i, r := range m {
					switch {
					case r >= '0' && r <= '9':
						digits++
					case i > 0 && (r == ' ' || r == '.' || r == '-'):
						groups++
					}
				}
				shaped := strings.ContainsAny(m, "+(") || (groups >= 3 && !isoDate.MatchString(m))
				if digits < 7 || digits > 15 || !shaped {
					return m
				}
				return "[phone]"
			})
		}
	}
	return text
}

// frame keeps passage text from closing the element that frames it.
var frame = strings.NewReplacer("<source", "‹source", "</source", "‹/source")
