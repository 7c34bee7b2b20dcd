// Package echarts embeds Apache ECharts 5.6.0 (dist/echarts.min.js from the npm package echarts@5.6.0,
// Apache-2.0, see LICENSE and NOTICE in this directory) so that charts render without a network.
//
// The file is committed here, byte for byte as published; SHA256 is its checksum and a test verifies it.
// It lives in its own package because //go:embed only reaches files inside the embedding package's
// directory tree; pkg/viz imports this package and inlines MinJS into pages and notebook outputs.
//
// To refresh (same version): npm pack echarts@5.6.0, extract package/dist/echarts.min.js,
// package/LICENSE and package/NOTICE into this directory, and check SHA256.
package echarts

import _ "embed"

// Version is the ECharts release embedded in MinJS.
const Version = "5.6.0"

// SHA256 is the hex SHA-256 of MinJS as published in echarts-5.6.0.tgz.
const SHA256 = "bf4a223524e40b77c304bec67e1222cf551f14880cf42c69dc046558e11c07b1"

// MinJS is the content of echarts.min.js (UMD build, about 1 MB).
//
//go:embed echarts.min.js
var MinJS string
