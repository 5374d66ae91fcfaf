// Compiles every .sol file beside this script with solc-js and writes one
// artifact per contract to artifacts/<Name>.json: { contractName, abi, bytecode,
// deployedBytecode, compiler }. Run with `npm install && node build.js`.
// Tests read the committed artifacts; they never need Node.
'use strict';
const fs = require('fs');
const path = require('path');
const solc = require('solc');

const dir = __dirname;
// The chaincode modules' Solidity interfaces are compiled too: this checks
// them with solc and writes their ABI JSON beside them (chaincode/sol/abi/).
const chaincodeDir = path.join(dir, '..', '..', 'chaincode', 'sol');
const sources = {};
for (const file of fs.readdirSync(dir).filter((f) => f.endsWith('.sol')).sort()) {
  sources[file] = { content: fs.readFileSync(path.join(dir, file), 'utf8') };
}
for (const file of fs.readdirSync(chaincodeDir).filter((f) => f.endsWith('.sol')).sort()) {
  sources[`chaincode/${file}`] = { content: fs.readFileSync(path.join(chaincodeDir, file), 'utf8') };
}
const input = {
  language: 'Solidity',
  sources,
  settings: {
    optimizer: { enabled: true, runs: 200 },
    evmVersion: 'cancun',
    outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object', 'evm.deployedBytecode.object'] } },
  },
};
const output = JSON.parse(solc.compile(JSON.stringify(input)));
const errors = (output.errors || []).filter((e) => e.severity === 'error');
for (const e of output.errors || []) console.error(e.formattedMessage);
if (errors.length) process.exit(1);

const outDir = path.join(dir, 'artifacts');
fs.mkdirSync(outDir, { recursive: true });
const abiDir = path.join(chaincodeDir, 'abi');
fs.mkdirSync(abiDir, { recursive: true });
for (const [file, contracts] of Object.entries(output.contracts)) {
  for (const [name, c] of Object.entries(contracts)) {
    if (file.startsWith('chaincode/')) {
      fs.writeFileSync(path.join(abiDir, `${name}.json`), JSON.stringify(c.abi, null, 2) + '\n');
      console.log(`${name}: chaincode ABI`);
      continue;
    }
    if (!c.evm.bytecode.object) continue; // interfaces declared inside test contracts
    const artifact = {
      contractName: name,
      sourceName: file,
      compiler: `solc-js ${solc.version()}`,
      abi: c.abi,
      bytecode: '0x' + c.evm.bytecode.object,
      deployedBytecode: '0x' + c.evm.deployedBytecode.object,
    };
    fs.writeFileSync(path.join(outDir, `${name}.json`), JSON.stringify(artifact, null, 2) + '\n');
    console.log(`${name}: ${c.evm.bytecode.object.length / 2} bytes of init code`);
  }
}
