package app

import (
	"context"
	"io/fs"
	"path"
	"time"

	"github.com/crispy-enigma/crispy/internal/rag"
	"github.com/crispy-enigma/crispy/internal/rag/extract"
	"github.com/crispy-enigma/crispy/internal/tenant"
)

// MaxSeedFileBytes bounds one seed document; a larger file is skipped.
const MaxSeedFileBytes = 4 << 20

// seedKnowledge ingests the seed documents of every tenant that names a
// rag.seed folder and whose knowledge base has never held a document
// (corpus version 0): on the first start over an empty data folder, or when
// a reload adds the tenant. A tenant that has had documents, even if they
// were all deleted since, is left as it is. Failures are logged; the server
// starts without the documents.
func (a *App) seedKnowledge(ctx context.Context, s *snapshot) {
	for _, t := range s.registry.Tenants() {
		dir := t.Config.RAG.Seed
		if dir == "" {
			continue
		}
		id := t.ID.String()
		if s.source == nil {
			a.log.Info("seed documents not loaded: the configs come from the store, without a tenants folder", "tenant", id, "folder", dir)
			continue
		}
		version, err := a.rag.Version(ctx, t.ID)
		if err != nil {
			a.log.Error("seed documents not loaded", "tenant", id, "error", err)
			continue
		}
		if version != 0 {
			continue
		}
		start := time.Now()
		n, failed := a.seedTenant(ctx, t, s.source, path.Join(id, dir))
		a.log.Info("knowledge base seeded", "tenant", id, "folder", dir, "documents", n, "failed", failed,
			"ms", time.Since(start).Milliseconds())
	}
}

// seedTenant ingests every .md, .txt and .html file under dir of source
// into tenant t's knowledge base, each with its path under dir as its ID.
// It returns how many documents went in and how many failed.
func (a *App) seedTenant(ctx context.Context, t *tenant.Tenant, source fs.FS, dir string) (n, failed int) {
	err := fs.WalkDir(source, dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		format := extract.FormatOf(p)
		if d.IsDir() || format == "" {
			return nil
		}
		rel := p[len(dir)+1:]
		info, err := d.Info()
		if err != nil || info.Size() > MaxSeedFileBytes {
			a.log.Warn("seed document skipped", "tenant", t.ID.String(), "file", rel, "size", sizeOf(info), "error", err)
			failed++
			return nil
		}
		b, err := fs.ReadFile(source, p)
		if err != nil {
			return err
		}
		in := rag.DocumentInput{ID: rag.DocumentIDFrom(rel), Metadata: map[string]any{"path": rel, "seed": true}}
		switch format {
		case extract.FormatMarkdown:
			in.Markdown = string(b)
		case extract.FormatHTML:
			in.HTML = string(b)
		default:
			in.Text = string(b)
		}
		if _, err := a.rag.Ingest(ctx, tenant.Caller{Tenant: t}, in); err != nil {
			a.log.Warn("seed document not ingested", "tenant", t.ID.String(), "file", rel, "error", err)
			failed++
			return nil
		}
		n++
		return nil
	})
	if err != nil {
		a.log.Error("seed documents not loaded", "tenant", t.ID.String(), "folder", dir, "error", err)
	}
	return n, failed
}

func sizeOf(info fs.FileInfo) int64 {
	if info == nil {
		return 0
	}
	return info.Size()
}
