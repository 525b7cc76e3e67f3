package tts

// ParseEspeakVoices exposes parseEspeakVoices to the tests.
var ParseEspeakVoices = parseEspeakVoices
