package echarts

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
)

func TestChecksum(t *testing.T) {
	sum := sha256.Sum256([]byte(MinJS))
	if got := hex.EncodeToString(sum[:]); got != SHA256 {
		t.Fatalf("echarts.min.js sha256 = %s, want %s (re-extract it from npm pack echarts@%s)", got, SHA256, Version)
	}
	// Inlining into <script> is only safe if the library never closes the tag itself.
	if strings.Contains(strings.ToLower(MinJS), "</script") {
		t.Fatal("echarts.min.js contains </script; it cannot be inlined")
	}
}
