package chunk_test

import (
	"fmt"

	"github.com/crispy-enigma/crispy/internal/rag/chunk"
	"github.com/crispy-enigma/crispy/internal/rag/extract"
)

func ExampleSplit() {
	doc := extract.Markdown(`# Install

## Linux

Download the archive. Unpack it into /usr/local. Add /usr/local/crispy/bin to your PATH.

## macOS

Run brew install crispy.`)
	for _, c := range chunk.Split(doc, chunk.Options{ChunkTokens: 20, OverlapTokens: 8}) {
		fmt.Printf("%d %q [%d,%d) %d tokens: %q\n", c.Ordinal, c.HeadingPath, c.Start, c.End, c.Tokens, c.Text)
	}
	// Output:
	// 0 ["Install" "Linux"] [0,64) 16 tokens: "Install\n\nLinux\n\nDownload the archive. Unpack it into /usr/local."
	// 1 ["Install" "Linux"] [38,104) 20 tokens: "Unpack it into /usr/local. Add /usr/local/crispy/bin to your PATH."
	// 2 ["Install" "macOS"] [106,137) 8 tokens: "macOS\n\nRun brew install crispy."
}
