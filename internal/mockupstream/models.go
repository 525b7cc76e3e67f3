package mockupstream

// modelsCreated is the fixed creation time of the listed models.
const modelsCreated = 1700000000

// modelList pre-encodes the answer of GET /v1/models.
func modelList(names []string) []byte {
	b := []byte(`{"object":"list","data":[`)
	for i, m := range names {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"id":`...)
		b = appendString(b, m)
		b = append(b, `,"object":"model","created":`...)
		b = appendInt(b, modelsCreated)
		b = append(b, `,"owned_by":"mockupstream"}`...)
	}
	return append(b, "]}"...)
}
