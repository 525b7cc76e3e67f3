// Package prose reads natural-language text the way an extractive reader
// needs to: it splits a text into sentences (one splitter, with one list of
// abbreviations, for the chunker and the builtin models), into lowercase
// words with a light English stemmer and a stopword list, tells prose from
// code, data and markup (IsCode), and picks representative sentences with
// tf-idf vectors and maximal marginal relevance (Corpus, Summarize).
//
// Every function is pure and deterministic, and does work roughly linear
// in the size of its input.
package prose
