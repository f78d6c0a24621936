// postinstall: replaces the Node.js launcher bin/claude-guard with the platform package's
// binary (a hard link, else a copy), so `claude-guard` starts without Node.js: the guard runs
// before every `claude`, and Node's start-up costs more than the guard itself. Local files
// only, no network. Whatever fails, the launcher stays and works; with install scripts off
// (`--ignore-scripts`) the launcher is what runs.
'use strict';

const { execFileSync } = require('child_process');
const fs = require('fs');
const path = require('path');
const { binaryPath } = require('./lib/platform');

const launcher = path.join(__dirname, 'bin', 'claude-guard');
const tmp = `${launcher}.native`;

function main() {
  let bin;
  try {
    bin = binaryPath();
  } catch {
    return; // the launcher says what is missing when it runs
  }
  try {
    fs.rmSync(tmp, { force: true });
    try {
      fs.linkSync(bin, tmp);
    } catch {
      fs.copyFileSync(bin, tmp);
    }
    fs.chmodSync(tmp, 0o755);
    // Only a binary that runs here replaces the launcher.
    const version = execFileSync(tmp, ['--version'], { encoding: 'utf8', timeout: 10000 });
    if (!version.startsWith('claude-guard ')) throw new Error(`unexpected --version: ${version}`);
    fs.renameSync(tmp, launcher);
  } catch {
    fs.rmSync(tmp, { force: true });
  }
}

main();
