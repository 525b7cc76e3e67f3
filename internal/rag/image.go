package rag

// The image of a tenant's knowledge base: its index, what results show of
// each chunk, and the chunks' texts, written to the data folder so that a
// start (or a reload after an eviction) reads it instead of rebuilding the
// index from the store.
//
// File <ImageDir>/<tenant>.kbi:
//
//	[0, 64 KiB)  header: magic, format, the tenant, the corpus version the
//	             image holds and the change that made that version, the
//	             vector encoding, the sections' offsets and lengths, the
//	             CRC-32C of the sections, and the CRC-32C of the header
//	index        the index (index.WriteImage); memory-mapped where the
//	             system allows, so that its arrays are not on the Go heap
//	kb           per document (by ID): ID, title, URL, estimated bytes,
//	             and per chunk its ID, heading path, offsets, tokens,
//	             flag, and where its text is in the texts section
//	texts        the chunks' texts, read one at a time when a result or
//	             feedback needs them, never held in memory
//
// An image is loaded only when its checksums, format, tenant and vector
// encoding are right, and the store holds the change the image says made
// its version (so an image of another database, or of a store rolled back,
// is not): at the store's version it is used as it is; behind it, it is
// caught up from the change feed. Anything else is logged and the index is
// rebuilt from the store, which stays the source of truth. Images are
// written whole to a temporary file, synced and renamed over the old one.

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"time"

	"github.com/crispy-enigma/crispy/internal/rag/index"
	"github.com/crispy-enigma/crispy/internal/rag/snap"
	"github.com/crispy-enigma/crispy/internal/store"
	"github.com/crispy-enigma/crispy/internal/tenant"
)

// imageFormat is the layout version of images; an image of another
// version is not loaded.
const imageFormat = 1

// imageHeaderSize is where the sections start: a multiple of every page
// size, so that the index section can be mapped.
const imageHeaderSize = 64 << 10

var imageMagic = [8]byte{'C', 'R', 'I', 'S', 'P', 'Y', 'K', 'B'}

// errNoImage means the tenant has no image.
var errNoImage = errors.New("no image")

// imageHeader describes an image.
type imageHeader struct {
	tenant      string
	version     int64
	last        store.DocumentChange // the change that made version
	fullVectors bool
	// offsets and lengths of the sections, in bytes from the file's start
	indexOff, indexLen, kbOff, kbLen, textOff, textLen int64
	sum                                                uint32 // CRC-32C of [imageHeaderSize, textOff+textLen)
}

func (h *imageHeader) encode() []byte {
	b := make([]byte, 0, 256)
	b = append(b, imageMagic[:]...)
	b = binary.LittleEndian.AppendUint32(b, imageFormat)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(h.tenant)))
	b = append(b, h.tenant...)
	b = binary.LittleEndian.AppendUint64(b, uint64(h.version))
	b = binary.LittleEndian.AppendUint64(b, uint64(h.last.Version))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(h.last.DocID)))
	b = append(b, h.last.DocID...)
	flags := byte(0)
	if h.last.Deleted {
		flags |= 1
	}
	if h.fullVectors {
		flags |= 2
	}
	b = append(b, flags)
	for _, v := range []int64{h.indexOff, h.indexLen, h.kbOff, h.kbLen, h.textOff, h.textLen} {
		b = binary.LittleEndian.AppendUint64(b, uint64(v))
	}
	b = binary.LittleEndian.AppendUint32(b, h.sum)
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, snap.Castagnoli))
}

// decodeHeader reads a header and returns its length.
func decodeHeader(b []byte) (imageHeader, int, error) {
	var h imageHeader
	r := snap.NewReader(b, false)
	if m := r.Bytes(8); r.Err() != nil || [8]byte(m) != imageMagic {
		return h, 0, fmt.Errorf("%w: not a knowledge base image", snap.ErrCorrupt)
	}
	if f := r.U32(); f != imageFormat {
		return h, 0, fmt.Errorf("%w: format %d, this build reads %d", snap.ErrCorrupt, f, imageFormat)
	}
	h.tenant = r.String()
	h.version = r.I64()
	h.last.Version = r.I64()
	h.last.DocID = r.String()
	flags := r.U8()
	h.last.Deleted, h.fullVectors = flags&1 != 0, flags&2 != 0
	for _, p := range []*int64{&h.indexOff, &h.indexLen, &h.kbOff, &h.kbLen, &h.textOff, &h.textLen} {
		*p = r.I64()
	}
	h.sum = r.U32()
	end := r.Offset()
	sum := r.U32()
	if err := r.Err(); err != nil {
		return h, 0, err
	}
	if crc32.Checksum(b[:end], snap.Castagnoli) != sum {
		return h, 0, fmt.Errorf("%w: header checksum", snap.ErrCorrupt)
	}
	return h, r.Offset(), nil
}

// imagePath is the file of a tenant's image.
func imagePath(dir string, t tenant.ID) string { return filepath.Join(dir, t.String()+".kbi") }

// loadedImage is an image read into memory, ready to install in a kb.
type loadedImage struct {
	hdr     imageHeader
	file    *os.File // the texts are read from it
	ix      *index.Index
	chunks  map[string]*chunkInfo
	byDoc   map[string][]string
	docSize map[string]int64
	bytes   int64 // estimated memory: docSize's sum, the terms not counted
}

// readImage opens and checks the image at path for tenant t: its checksums,
// format, tenant and vector encoding. The version check against the store
// is the caller's.
func readImage(path string, t tenant.ID, fullVectors bool, ixOpts index.Options) (img *loadedImage, err error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, errNoImage
	}
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			f.Close()
		}
	}()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	head := make([]byte, min(st.Size(), imageHeaderSize))
	if _, err := io.ReadFull(f, head); err != nil {
		return nil, fmt.Errorf("%w: header: %v", snap.ErrCorrupt, err)
	}
	h, n, err := decodeHeader(head)
	if err != nil {
		return nil, err
	}
	for _, b := range head[n:] { // the rest of the header's page is zeros
		if b != 0 {
			return nil, fmt.Errorf("%w: header padding", snap.ErrCorrupt)
		}
	}
	switch {
	case h.tenant != t.String():
		return nil, fmt.Errorf("%w: image of tenant %q", snap.ErrCorrupt, h.tenant)
	case h.fullVectors != fullVectors:
		return nil, fmt.Errorf("%w: image with full vectors %v, the server holds %v", snap.ErrCorrupt, h.fullVectors, fullVectors)
	case h.indexOff != imageHeaderSize || h.indexLen < 0 || h.kbOff != h.indexOff+h.indexLen || h.kbLen < 0 ||
		h.textOff != h.kbOff+h.kbLen || h.textLen < 0 || h.textOff+h.textLen != st.Size():
		return nil, fmt.Errorf("%w: sections do not fit a file of %d bytes", snap.ErrCorrupt, st.Size())
	}
	// The whole image, read through (the page cache, not this process's
	// memory), against its checksum.
	sum, err := checksum(io.NewSectionReader(f, imageHeaderSize, st.Size()-imageHeaderSize))
	if err != nil {
		return nil, err
	}
	if sum != h.sum {
		return nil, fmt.Errorf("%w: checksum", snap.ErrCorrupt)
	}
	mem, keep, aliased, err := mapSection(f, h.indexOff, h.indexLen)
	if err != nil {
		return nil, err
	}
	ixOpts.FullVectors = fullVectors
	ix, err := index.ReadImage(snap.NewReader(mem, aliased), ixOpts, keep)
	if err != nil {
		return nil, err
	}
	kbBuf := make([]byte, h.kbLen)
	if _, err := f.ReadAt(kbBuf, h.kbOff); err != nil {
		return nil, fmt.Errorf("%w: %v", snap.ErrCorrupt, err)
	}
	img = &loadedImage{hdr: h, file: f, ix: ix}
	if err := img.decodeKB(snap.NewReader(kbBuf, false), h.textLen); err != nil {
		return nil, err
	}
	return img, nil
}

func checksum(r io.Reader) (uint32, error) {
	buf := make([]byte, 1<<20)
	var sum uint32
	for {
		n, err := r.Read(buf)
		sum = crc32.Update(sum, snap.Castagnoli, buf[:n])
		if err == io.EOF {
			return sum, nil
		}
		if err != nil {
			return 0, err
		}
	}
}

// decodeKB reads the kb section.
func (img *loadedImage) decodeKB(r *snap.Reader, textLen int64) error {
	nd := r.Count(8)
	img.chunks = make(map[string]*chunkInfo, img.ix.Len())
	img.byDoc = make(map[string][]string, nd)
	img.docSize = make(map[string]int64, nd)
	for range nd {
		doc := &docInfo{DocID: r.String(), Title: r.String(), URL: r.String()}
		size := r.I64()
		nc := r.Count(8)
		if r.Err() != nil {
			return r.Err()
		}
		infos := make([]chunkInfo, nc)
		ids := make([]string, nc)
		var headings []string
		for i := range nc {
			id := r.String()
			if r.Bool() { // a new heading path
				nh := int(r.U32())
				if nh > r.Left() {
					r.Fail("heading path of %d", nh)
					return r.Err()
				}
				headings = make([]string, nh)
				for j := range headings {
					headings[j] = r.String()
				}
			}
			c := &infos[i]
			*c = chunkInfo{docInfo: doc, HeadingPath: headings, Start: int(r.I64()), End: int(r.I64()), Tokens: int(r.U32()), Flagged: r.Bool()}
			c.at, c.size = r.I64(), r.U32()
			c.disk = true
			if c.at < 0 || c.at+int64(c.size) > textLen {
				r.Fail("text of chunk %q out of range", id)
			}
			ids[i] = id
			img.chunks[id] = c
		}
		img.byDoc[doc.DocID] = ids
		img.docSize[doc.DocID] = size
		img.bytes += size
	}
	if r.Err() == nil && len(img.chunks) != img.ix.Len() {
		r.Fail("%d chunks, the index holds %d", len(img.chunks), img.ix.Len())
	}
	return r.Err()
}

// writeImage writes k's image to dir, labelled with k's version and last,
// the change that made it, and returns its path. The caller holds k.write,
// so that nothing changes k meanwhile.
func (k *kb) writeImage(dir string, t tenant.ID, last store.DocumentChange) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	f, err := os.CreateTemp(dir, t.String()+".kbi.tmp-*")
	if err != nil {
		return "", err
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if _, err := f.Seek(imageHeaderSize, io.SeekStart); err != nil {
		return "", err
	}
	w := snap.NewWriter(f)
	h := imageHeader{tenant: t.String(), version: k.currentVersion(), last: last, fullVectors: k.fullVectors, indexOff: imageHeaderSize}
	if err := k.ix.WriteImage(w); err != nil {
		return "", err
	}
	h.indexLen = w.Offset()
	h.kbOff = h.indexOff + h.indexLen

	k.mu.RLock()
	docs := make([]string, 0, len(k.byDoc))
	for d := range k.byDoc {
		docs = append(docs, d)
	}
	slices.Sort(docs)
	w.U64(uint64(len(docs)))
	var at int64
	for _, d := range docs {
		ids := k.byDoc[d]
		var doc *docInfo
		var texts int64
		for _, id := range ids {
			c := k.chunks[id]
			doc = c.docInfo
			if !c.disk {
				texts += int64(len(c.Text))
			}
		}
		if doc == nil {
			doc = &docInfo{DocID: d}
		}
		w.String(doc.DocID)
		w.String(doc.Title)
		w.String(doc.URL)
		w.I64(k.docSize[d] - texts) // its texts are on disk now
		w.U64(uint64(len(ids)))
		var headings []string
		for i, id := range ids {
			c := k.chunks[id]
			w.String(id)
			fresh := i == 0 || !sameStrings(c.HeadingPath, headings)
			w.Bool(fresh)
			if fresh {
				headings = c.HeadingPath
				w.U32(uint32(len(headings)))
				for _, s := range headings {
					w.String(s)
				}
			}
			w.I64(int64(c.Start))
			w.I64(int64(c.End))
			w.U32(uint32(c.Tokens))
			w.Bool(c.Flagged)
			n := c.textLen()
			w.I64(at)
			w.U32(n)
			at += int64(n)
		}
	}
	h.kbLen = w.Offset() - h.indexLen
	h.textOff = h.kbOff + h.kbLen
	for _, d := range docs {
		for _, id := range k.byDoc[d] {
			text, err := k.text(k.chunks[id])
			if err != nil {
				k.mu.RUnlock()
				return "", err
			}
			_, _ = io.WriteString(w, text)
		}
	}
	k.mu.RUnlock()
	h.textLen = w.Offset() - h.indexLen - h.kbLen
	if err := w.Flush(); err != nil {
		return "", err
	}
	h.sum = w.Sum()
	if _, err := f.WriteAt(h.encode(), 0); err != nil {
		return "", err
	}
	if err := f.Sync(); err != nil {
		return "", err
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	path := imagePath(dir, t)
	if err := os.Rename(tmp, path); err != nil {
		return "", err
	}
	ok = true
	if d, err := os.Open(dir); err == nil { // the rename, durable
		_ = d.Sync()
		d.Close()
	}
	return path, nil
}

func sameStrings(a, b []string) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0] || slices.Equal(a, b))
}

// textLen is the length of c's text.
func (c *chunkInfo) textLen() uint32 {
	if c.disk {
		return c.size
	}
	return uint32(len(c.Text))
}

// text returns c's text: held in memory, or read from k's image. Callers
// hold k.mu (read), which keeps the image that c refers to open.
func (k *kb) text(c *chunkInfo) (string, error) {
	if !c.disk {
		return c.Text, nil
	}
	if k.img == nil {
		return "", errors.New("chunk text refers to no image")
	}
	buf := make([]byte, c.size)
	if _, err := k.img.ReadAt(buf, k.imgText+c.at); err != nil {
		return "", fmt.Errorf("read chunk text from the index image: %w", err)
	}
	return string(buf), nil
}

// install makes k hold img: its index, chunk records and texts, in place
// of what k held (the same content, when k just wrote img). The caller
// holds k.write, or k is not in use yet.
func (k *kb) install(img *loadedImage) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.ix.Install(img.ix)
	old := k.img
	k.img, k.imgText = img.file, img.hdr.textOff
	k.chunks, k.byDoc, k.docSize = img.chunks, img.byDoc, img.docSize
	k.terms = 0
	k.bytes.Store(img.bytes)
	k.countTerms()
	k.version = max(k.version, img.hdr.version)
	if old != nil {
		old.Close()
	}
}

// lastChange returns the change of the store's feed that made version, or
// false when the feed no longer holds it.
func (s *Service) lastChange(ctx context.Context, t tenant.ID, version int64) (store.DocumentChange, bool, error) {
	if version <= 0 {
		return store.DocumentChange{}, false, nil
	}
	cs, err := s.docs.Changes(ctx, t, version-1, 1)
	if errors.Is(err, store.ErrPruned) {
		return store.DocumentChange{}, false, nil
	}
	if err != nil {
		return store.DocumentChange{}, false, err
	}
	if len(cs) == 0 || cs[0].Version != version {
		return store.DocumentChange{}, false, nil
	}
	return cs[0], true, nil
}

// loadImage installs the tenant's image in k when it is sound and the
// store holds the change it says made its version, and catches k up to
// the store from there. It reports whether k is loaded; when not, it has
// logged why and k is as it was (empty).
func (s *Service) loadImage(ctx context.Context, t tenant.ID, k *kb, version int64) bool {
	start := time.Now()
	// What a write cut short (a crash) left: no other write of this
	// tenant's image runs while it loads.
	if tmps, err := filepath.Glob(imagePath(s.opts.ImageDir, t) + ".tmp-*"); err == nil {
		for _, p := range tmps {
			_ = os.Remove(p)
		}
	}
	img, err := readImage(imagePath(s.opts.ImageDir, t), t, s.opts.FullVectors, s.ixOpts())
	if errors.Is(err, errNoImage) {
		return false
	}
	reject := func(why string, err error) bool {
		s.metrics.images.WithLabelValues("rejected").Inc()
		s.log.Warn("knowledge base image not used; rebuilding the index from the store", "tenant", t.String(), "reason", why, "error", err)
		if img != nil {
			img.file.Close()
		}
		return false
	}
	if err != nil {
		return reject("unreadable", err)
	}
	if img.hdr.version > version {
		return reject("newer than the store", fmt.Errorf("image at version %d, store at %d", img.hdr.version, version))
	}
	last, ok, err := s.lastChange(ctx, t, img.hdr.version)
	if err != nil {
		return reject("store", err)
	}
	if img.hdr.version > 0 && (!ok || last != img.hdr.last) {
		return reject("not of this store", fmt.Errorf("the change that made version %d is not the image's", img.hdr.version))
	}
	k.install(img)
	if version > k.version {
		err := s.applyChanges(ctx, t, k)
		if err != nil {
			// The empty kb again; the caller rebuilds it.
			s.log.Warn("knowledge base image too far behind the store; rebuilding the index from it", "tenant", t.String(), "image", img.hdr.version, "store", version, "error", err)
			s.metrics.images.WithLabelValues("rejected").Inc()
			k.reset()
			return false
		}
		k.dirty.Store(true)
	}
	s.metrics.images.WithLabelValues("loaded").Inc()
	s.log.Info("knowledge base image loaded", "tenant", t.String(), "version", img.hdr.version, "caught_up_to", k.version,
		"chunks", k.ix.Len(), "ms", time.Since(start).Milliseconds())
	return true
}

// readSection reads n bytes of f from off into memory that arrays may
// point into.
func readSection(f *os.File, off, n int64) (mem []byte, keep any, aliased bool, err error) {
	b := make([]byte, n)
	if _, err := f.ReadAt(b, off); err != nil {
		return nil, nil, false, fmt.Errorf("%w: %v", snap.ErrCorrupt, err)
	}
	return b, b, true, nil
}

// schedule marks k changed and has its image written once its writes
// pause for Options.ImageDelay.
func (s *Service) schedule(t tenant.ID, k *kb) {
	if s.opts.ImageDir == "" {
		return
	}
	k.dirty.Store(true)
	k.qmu.Lock()
	defer k.qmu.Unlock()
	if k.timer != nil {
		k.timer.Reset(s.opts.ImageDelay)
		return
	}
	k.timer = time.AfterFunc(s.opts.ImageDelay, func() {
		s.spawn(func() { s.persist(t, k) }) // once Close has begun, Close writes it
	})
}

// persist writes k's image when k changed since the last one, and then
// holds k from it: its texts on disk, its index's arrays in the image's
// mapping. Writes to k wait meanwhile; queries do not.
func (s *Service) persist(t tenant.ID, k *kb) {
	free := false
	defer func() {
		if free {
			// The texts and arrays the image replaced are garbage now:
			// hand their pages back to the system rather than over
			// minutes, once writes may go on.
			debug.FreeOSMemory()
		}
	}()
	k.write.Lock()
	defer k.write.Unlock()
	if k.evicted.Load() || !k.ready.Load() || !k.dirty.Load() {
		return
	}
	if wait := time.Duration(k.nextImage.Load() - time.Now().UnixNano()); wait > 0 && !s.closing.Load() {
		k.qmu.Lock()
		k.timer.Reset(wait)
		k.qmu.Unlock()
		return
	}
	k.dirty.Store(false)
	if k.ix.Len() == 0 {
		if err := os.Remove(imagePath(s.opts.ImageDir, t)); err != nil && !errors.Is(err, os.ErrNotExist) {
			s.log.Warn("knowledge base image not removed", "tenant", t.String(), "error", err)
		}
		return
	}
	start := time.Now()
	ctx := context.Background()
	version := k.currentVersion()
	last, ok, err := s.lastChange(ctx, t, version)
	if err != nil || !ok {
		// Behind the feed's window: the next catch-up reloads k whole.
		s.log.Info("knowledge base image not written: its version is no longer in the change feed", "tenant", t.String(), "version", version, "error", err)
		return
	}
	held := k.bytes.Load()
	path, err := k.writeImage(s.opts.ImageDir, t, last)
	if err == nil {
		var img *loadedImage
		if img, err = readImage(path, t, s.opts.FullVectors, s.ixOpts()); err == nil {
			k.install(img)
		}
	}
	if err != nil {
		s.metrics.images.WithLabelValues("failed").Inc()
		s.log.Warn("knowledge base image not written", "tenant", t.String(), "error", err)
		return
	}
	free = held-k.bytes.Load() > 8<<20
	k.nextImage.Store(time.Now().Add(19 * time.Since(start)).UnixNano())
	s.metrics.images.WithLabelValues("written").Inc()
	s.log.Info("knowledge base image written", "tenant", t.String(), "version", version, "chunks", k.ix.Len(),
		"ms", time.Since(start).Milliseconds())
	s.enforceBudget(k)
}

// ImageDir is the folder of the knowledge bases' images in a server's
// data folder.
func ImageDir(dataDir string) string { return filepath.Join(dataDir, "index") }
