import * as tf from '@tensorflow/tfjs';

/** The TensorFlow.js backends this project can run on, fastest first. */
export type TfBackendName = 'tensorflow' | 'wasm' | 'cpu';

let chosen: Promise<TfBackendName> | undefined;

/**
 * Selects the fastest TensorFlow.js backend that loads here and returns its name so callers can
 * log it: native TensorFlow (`@tensorflow/tfjs-node`, an optional dependency that cannot install
 * everywhere), then WebAssembly (offline, ~5x the pure-JS speed), then the pure-JS cpu backend.
 * The choice is made once per process; `preferred` forces one backend (tests compare backends).
 */
export function initTfBackend(preferred?: TfBackendName): Promise<TfBackendName> {
  if (preferred !== undefined) return useBackend(preferred);
  chosen ??= chooseBackend();
  return chosen;
}

async function chooseBackend(): Promise<TfBackendName> {
  for (const name of ['tensorflow', 'wasm', 'cpu'] as const) {
    try {
      return await useBackend(name);
    } catch {
      // The next backend is tried; cpu always loads.
    }
  }
  throw new Error('no TensorFlow.js backend could be initialised');
}

async function useBackend(name: TfBackendName): Promise<TfBackendName> {
  if (name === 'tensorflow') {
    // A variable specifier keeps bundlers and the type checker from requiring the optional package.
    const nativePackage = '@tensorflow/tfjs-node';
    await import(nativePackage);
  } else if (name === 'wasm') {
    const wasm = await import('@tensorflow/tfjs-backend-wasm');
    // Single-threaded: the threaded build's worker pool starts asynchronously, and a synchronous
    // training loop started before it is up waits on it forever. Callers parallelise by process.
    tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
    // The .wasm binaries ship beside the package's entry point; pointing there keeps it offline.
    wasm.setWasmPaths(new URL('./', import.meta.resolve('@tensorflow/tfjs-backend-wasm')).pathname);
  }
  if (!(await tf.setBackend(name))) throw new Error(`TensorFlow.js backend '${name}' failed to initialise`);
  await tf.ready();
  return name;
}
