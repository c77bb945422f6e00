// The console's build: React via esbuild's automatic JSX (no plugin), output into the
// Python package (taichu/web/dist, served by taichu/web/serving.py and shipped in the
// wheel), plus Swagger UI / ReDoc copied from node_modules for /api/docs and /api/redoc.
import { copyFileSync, mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { defineConfig, type Plugin } from 'vite';

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));
const outDir = here('../taichu/web/dist');

const DOCS_ASSETS: Array<[string, string]> = [
  ['node_modules/swagger-ui-dist/swagger-ui-bundle.js', 'swagger-ui-bundle.js'],
  ['node_modules/swagger-ui-dist/swagger-ui.css', 'swagger-ui.css'],
  ['node_modules/redoc/bundles/redoc.standalone.js', 'redoc.standalone.js'],
  ['docs/swagger-init.js', 'swagger-init.js'],
  ['docs/redoc-init.js', 'redoc-init.js'],
  ['docs/csp-shim.js', 'csp-shim.js'],
];

function docsAssets(): Plugin {
  return {
    name: 'taichu-docs-assets',
    apply: 'build',
    writeBundle() {
      const dir = `${outDir}/docs-assets`;
      mkdirSync(dir, { recursive: true });
      for (const [from, name] of DOCS_ASSETS) copyFileSync(here(from), `${dir}/${name}`);
    },
  };
}

export default defineConfig({
  esbuild: { jsx: 'automatic' },
  plugins: [docsAssets()],
  build: {
    outDir,
    emptyOutDir: true,
    // Everything as files: the CSP allows no inline script and no data: fonts/scripts.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    chunkSizeWarningLimit: 1500,
  },
  // `npm run dev` against a `taichu serve` on the default port.
  server: { proxy: { '/api': 'http://127.0.0.1:8081' } },
});
