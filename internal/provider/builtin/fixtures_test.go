package builtin_test

import "github.com/crispy-enigma/crispy/internal/provider"

// passages are four short documents on unrelated topics. The fourth repeats
// a sentence of the second word for word.
var passages = []provider.Passage{
	{N: 1, ID: "eiffel", Title: "Eiffel Tower", Text: `The Eiffel Tower is a wrought-iron lattice tower on the Champ de Mars in Paris, France.
It is named after the engineer Gustave Eiffel, whose company designed and built the tower from 1887 to 1889.
The tower is 330 m (1,083 ft) tall, about the same height as an 81-storey building.
It was the tallest man-made structure in the world until the Chrysler Building in New York City was finished in 1930.
Visitors can reach three levels, e.g. by stairs or lifts; the top level's platform is 276 m above the ground.
Dr. Smith's 2.5-hour guided tour covers the history of its construction.`},
	{N: 2, ID: "photosynthesis", Title: "Photosynthesis", Text: `Photosynthesis is the process by which plants, algae and some bacteria convert light energy into chemical energy.
Photosynthesis converts light energy into chemical energy stored in glucose. Most of it takes place in the chloroplasts of leaf cells, which contain the green pigment chlorophyll.

## Inputs and outputs
The plant takes in carbon dioxide through small pores called stomata and water through its roots. Oxygen is released as a by-product.
The light-dependent reactions split water molecules and produce ATP and NADPH, which the Calvin cycle then uses to fix carbon dioxide into sugars.`},
	{N: 3, ID: "python", Title: "Python (programming language)", Text: `# Python
Python is a high-level, general-purpose programming language. Its design philosophy emphasizes code readability with the use of significant indentation.
Guido van Rossum began working on Python in the late 1980s as a successor to the ABC language and first released it in 1991 as Python 0.9.0.

Notable features:
- dynamic typing and garbage collection
- support for structured, object-oriented and functional programming
- a large standard library, often described as "batteries included"`},
	{N: 4, ID: "glossary", Title: "Biology glossary", Text: `Chlorophyll is a green pigment found in cyanobacteria and in the chloroplasts of algae and plants.
Photosynthesis converts light energy into chemical energy stored in glucose.
Cellular respiration releases the energy stored in glucose, using oxygen and producing carbon dioxide.`},
}

func user(q string) []provider.Message {
	return []provider.Message{{Role: provider.RoleUser, Content: q}}
}
