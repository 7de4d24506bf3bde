// Tests are compiled by `tsc -b` first (which type-checks them), then ava runs the shipped JS.
export default {
  files: ['packages/*/dist/test/**/*.test.js', 'test/dist/**/*.test.js'],
  timeout: '2m',
  // Two cores: a file per core keeps the netns and benchmark-like tests from starving each other.
  concurrency: 2,
  workerThreads: false,
};
