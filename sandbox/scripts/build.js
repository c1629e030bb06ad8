// "Build": copy src/ into a fresh dist/ (the real backend compiles TypeScript here).
const fs = require('fs');
const path = require('path');

const root = path.resolve(__dirname, '..');
const src = path.join(root, 'src');
const dist = path.join(root, 'dist');
fs.rmSync(dist, { recursive: true, force: true });
fs.cpSync(src, dist, { recursive: true });
fs.writeFileSync(
  path.join(dist, 'BUILD_INFO.json'),
  JSON.stringify({ built_at: new Date().toISOString(), node: process.version }, null, 2) + '\n'
);
const count = fs.readdirSync(dist, { recursive: true }).length;
console.log(`build: ${count} entries written to dist/`);
