package datasets

import (
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// remoteFile is a file published at URL with its size and checksums (hex; empty when not published).
type remoteFile struct {
	URL    string
	Size   int64
	MD5    string
	SHA256 string
}

func (o Options) timeout() time.Duration {
	if o.Timeout > 0 {
		return o.Timeout
	}
	return 30 * time.Second
}

func (o Options) progress(format string, args ...any) {
	if o.Progress != nil {
		o.Progress(fmt.Sprintf(format, args...))
	}
}

func httpClient(timeout time.Duration) *http.Client {
	return &http.Client{Transport: &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: timeout}).DialContext,
		TLSHandshakeTimeout:   timeout,
		ResponseHeaderTimeout: timeout,
		IdleConnTimeout:       timeout,
	}}
}

// partSuffix marks a download in progress; such a file is resumed, never used as data.
const partSuffix = ".part"

// fetchFile downloads rf to dest. Bytes go to dest+".part" first; a later call resumes from it with an HTTP
// range request (or restarts if the server ignores the range). Only a file of the published size whose
// checksums match is renamed to dest. A checksum mismatch removes the partial file. Connection set-up and any
// stall in the transfer longer than opts.Timeout end the attempt with an error: it never hangs.
func fetchFile(rf remoteFile, dest string, opts Options) error {
	if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
		return fmt.Errorf("download %s: %w", rf.URL, err)
	}
	part := dest + partSuffix
	var offset int64
	if st, err := os.Stat(part); err == nil {
		offset = st.Size()
		if rf.Size > 0 && offset > rf.Size {
			offset = 0
		}
	}
	if rf.Size == 0 || offset < rf.Size {
		var err error
		offset, err = downloadTo(rf, part, offset, opts)
		if err != nil {
			return err
		}
	}
	if rf.Size > 0 && offset != rf.Size {
		return fmt.Errorf("download %s: incomplete, %d of %d bytes in %s; run again to resume", rf.URL, offset, rf.Size, part)
	}
	if err := verifyChecksums(part, rf); err != nil {
		os.Remove(part)
		return fmt.Errorf("download %s: %w; the downloaded file was removed", rf.URL, err)
	}
	if err := os.Rename(part, dest); err != nil {
		return fmt.Errorf("download %s: %w", rf.URL, err)
	}
	return nil
}

// downloadTo appends the rest of rf.URL to part from offset and returns the new size of part.
func downloadTo(rf remoteFile, part string, offset int64, opts Options) (int64, error) {
	timeout := opts.timeout()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stalled atomic.Bool
	watchdog := time.AfterFunc(timeout, func() { stalled.Store(true); cancel() })
	defer watchdog.Stop()

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rf.URL, nil)
	if err != nil {
		return offset, fmt.Errorf("download %s: %w", rf.URL, err)
	}
	if offset > 0 {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(offset, 10)+"-")
	}
	resp, err := httpClient(timeout).Do(req)
	if err != nil {
		var ne net.Error
		if stalled.Load() || (errors.As(err, &ne) && ne.Timeout()) {
			err = fmt.Errorf("no answer within %v", timeout)
		}
		return offset, fmt.Errorf("download %s: %v (no network here? the data must then be copied in by hand)", rf.URL, err)
	}
	defer resp.Body.Close()
	flags := os.O_WRONLY | os.O_CREATE
	switch {
	case resp.StatusCode == http.StatusPartialContent && offset > 0 &&
		strings.HasPrefix(resp.Header.Get("Content-Range"), "bytes "+strconv.FormatInt(offset, 10)+"-"):
		flags |= os.O_APPEND
		opts.progress("resuming %s at byte %d", rf.URL, offset)
	case resp.StatusCode == http.StatusOK:
		flags |= os.O_TRUNC
		offset = 0
	case resp.StatusCode == http.StatusRequestedRangeNotSatisfiable:
		os.Remove(part) // what we have does not fit the file: restart from scratch next time
		return 0, fmt.Errorf("download %s: server rejected resuming at byte %d; partial file removed, run again", rf.URL, offset)
	default:
		return offset, fmt.Errorf("download %s: HTTP %s", rf.URL, resp.Status)
	}
	f, err := os.OpenFile(part, flags, 0o644)
	if err != nil {
		return offset, fmt.Errorf("download %s: %w", rf.URL, err)
	}
	buf := make([]byte, 256<<10)
	last := time.Now()
	for {
		n, rerr := resp.Body.Read(buf)
		if n > 0 {
			watchdog.Reset(timeout)
			if _, err := f.Write(buf[:n]); err != nil {
				f.Close()
				return offset, fmt.Errorf("download %s: writing %s: %w", rf.URL, part, err)
			}
			offset += int64(n)
			if rf.Size > 0 && offset > rf.Size {
				f.Close()
				os.Remove(part)
				return 0, fmt.Errorf("download %s: server sent more than the published %d bytes; partial file removed", rf.URL, rf.Size)
			}
			if time.Since(last) > 5*time.Second {
				last = time.Now()
				opts.progress("%s: %d of %d bytes", filepath.Base(part), offset, rf.Size)
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			f.Close()
			if stalled.Load() {
				rerr = fmt.Errorf("transfer stalled for %v", timeout)
			}
			return offset, fmt.Errorf("download %s: %v after %d bytes (kept in %s; run again to resume)", rf.URL, rerr, offset, part)
		}
	}
	if err := f.Close(); err != nil {
		return offset, fmt.Errorf("download %s: %w", rf.URL, err)
	}
	return offset, nil
}

// verifyChecksums compares path's size and hashes with the published ones.
func verifyChecksums(path string, rf remoteFile) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	type check struct {
		name, want string
		h          hash.Hash
	}
	var checks []check
	var ws []io.Writer
	if rf.MD5 != "" {
		checks = append(checks, check{"MD5", rf.MD5, md5.New()})
	}
	if rf.SHA256 != "" {
		checks = append(checks, check{"SHA-256", rf.SHA256, sha256.New()})
	}
	if len(checks) == 0 {
		return errors.New("no published checksum to verify against")
	}
	for _, c := range checks {
		ws = append(ws, c.h)
	}
	n, err := io.Copy(io.MultiWriter(ws...), f)
	if err != nil {
		return fmt.Errorf("reading %s: %w", path, err)
	}
	if rf.Size > 0 && n != rf.Size {
		return fmt.Errorf("%s is %d bytes, the published size is %d", path, n, rf.Size)
	}
	for _, c := range checks {
		if got := hex.EncodeToString(c.h.Sum(nil)); got != c.want {
			return fmt.Errorf("checksum mismatch for %s: %s %s, want %s", path, c.name, got, c.want)
		}
	}
	return nil
}
