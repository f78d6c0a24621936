// Where the prebuilt claude-guard binary is: in the platform package npm installed as an
// optional dependency (@claude-guard/<os>-<cpu>; npm skips the others by their `os`/`cpu`
// fields). Used by the launcher (bin/claude-guard) and by install.js.
'use strict';

const PLATFORMS = {
  'linux x64': '@claude-guard/linux-x64',
  'linux arm64': '@claude-guard/linux-arm64',
  'darwin x64': '@claude-guard/darwin-x64',
  'darwin arm64': '@claude-guard/darwin-arm64',
};

// The binary's path; throws an Error whose message says what is missing and how to fix it.
function binaryPath() {
  const platform = `${process.platform} ${process.arch}`;
  const pkg = PLATFORMS[platform];
  if (!pkg) {
    throw new Error(
      `no prebuilt binary for ${platform} in the npm package.\n` +
        '  help: build it with cargo: `cargo install --locked claude-plan-guard`'
    );
  }
  try {
    return require.resolve(`${pkg}/bin/claude-guard`);
  } catch {
    throw new Error(
      `the platform package ${pkg} is not installed (npm installs it as an optional ` +
        'dependency; it is missing after `--omit=optional` or `--no-optional`).\n' +
        '  help: reinstall without that flag: `npm install -g claude-guard`'
    );
  }
}

module.exports = { PLATFORMS, binaryPath };
