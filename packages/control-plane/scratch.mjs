import { MeshModel } from './dist/src/index.js';
import { inspect } from 'node:util';
const m = await MeshModel.load(process.argv[2]);
const s = m.current;
console.log(inspect({ version: s.version, addresses: Object.fromEntries(s.addresses), authorizations: Object.fromEntries(s.authorizations), ids: [...s.identitiesByNode].map(([k,v])=>[k,[...v]]), diags: s.diagnostics }, { depth: 20, breakLength: 160 }));
