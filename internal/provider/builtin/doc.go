// Package builtin is the provider that is always there: offline,
// deterministic models that need no network, no account and no weights, so
// that `crispy serve` works out of the box and tests have a provider that
// answers the same way every time. Neither model is a language model.
//
// # extractive (chat)
//
// Extractive answers the last user message by quoting sentences from the
// request's passages, each followed by its citation (" [n]"). It does not
// write, paraphrase or reason: it splits the passages into sentences of
// prose (internal/prose, which also tells them from code, JSON, command lines
// and markup, never quoted), ranks them against the question with BM25 (over
// lowercase words, a small English stopword list removed, plurals folded by
// Harman's S-stemmer), adds bonuses
// for covering more of the question, for question word pairs found next to
// each other, and for question words in the passage's title or the
// sentence's heading, and keeps the best few with maximal marginal relevance
// so that near-duplicates are quoted once. The sentences come out in the
// order of the passages. With no passages, no question, no sentence of prose
// that shares a word with the question, or when the sentences chosen (with
// their titles and headings) hold less than half of the question's idf, the
// answer is NoAnswer.
//
// The answer streams a word at a time and ends with a delta that carries the
// finish reason and usage. Usage is counted with internal/tokens
// (cl100k_base): the prompt as the gateway counts it (the chat's messages by
// OpenAI's per-message convention plus the passages' text), the completion
// as the answer's text. These are the only counts there are for this model,
// so Usage.Estimated is false. MaxTokens is a budget: the answer quotes only
// the sentences that fit in it, and when the best sentence alone does not,
// that sentence is cut, after a whole word where it can, with finish reason
// "length". Stop sequences cut the answer with "stop". Temperature, TopP and
// Tools are ignored: the answer is a function of the messages, passages,
// MaxTokens and Stop alone, byte for byte.
//
// # hash-N (embeddings)
//
// HashEmbedder turns a text into an N-dimensional vector with the hashing
// trick: its lowercase word unigrams and bigrams and the character 3-grams
// of its words (with boundary markers, "<cat>" gives "<ca", "cat", "at>"),
// stopwords left out unless the text has nothing else, are hashed with
// 64-bit FNV-1a into N buckets, with a sign from a second hash so that
// collisions cancel out on average; each feature weighs 1+ln(tf), scaled by
// its kind, and the vector is L2-normalised. Texts that
// share words and word pieces get a high cosine; it knows no synonyms. The
// model name fixes N: "hash-384" is the default and any "hash-N" with N from
// 32 to 4096 is served.
package builtin
