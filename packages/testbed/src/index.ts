export { HELD_CLIENT_APP, Testbed } from './testbed.js';
export type {
  TestbedNode,
  TestbedPod,
  TestbedOptions,
  ExecOptions,
  EchoServer,
  EchoServerOptions,
  TcpEchoResult,
  HttpEchoResult,
} from './testbed.js';
export { TestbedError } from './errors.js';
export type { TestbedErrorCode } from './errors.js';
export { AppProcess, AppError } from './app-process.js';
export type { AppEvent } from './app-process.js';
export type { PeerReport } from './apps/echo.js';
export type { CommandResult } from './shell.js';
export { parseTopology } from './topology.js';
export type { Topology, NodeSpec, PodSpec } from './topology.js';
export { down, surveyRuns, removeRun } from './reaper.js';
export type { RunState, RunStatus, DownOptions } from './reaper.js';
export { DEFAULT_STATE_DIR } from './state.js';
export type { RunRecord, RunOwner } from './state.js';
