// A person's own models, kept in this browser so that a reload lists them again and they work
// offline: IndexedDB (database "upres", store "models"), which stays on this device like
// everything else. Each record holds the original files as they were chosen, which the engine
// reads again when the model is used (engine.js importModel()), the card it made of them and
// what the page shows of it, and the date.

const DATABASE = 'upres';
const STORE = 'models';

/**
 * @typedef {{ name: string, bytes: ArrayBuffer }} StoredFile
 * @typedef {{ name: string, scale: number, parameters: number, macs: number, architecture: string,
 *   sha256: string, format: string }} ModelInfo
 * @typedef {{ id?: number, files: StoredFile[], card: string, info: ModelInfo, date: Date }} OwnModel
 */

/**
 * The database, or null where it does not exist and `create` is false: listing the models of a
 * visitor who never brought one does not create it. An error where this browser keeps none (a
 * sandboxed frame, some private windows).
 * @returns {Promise<IDBDatabase | null>}
 */
function open(create) {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open(DATABASE, 1);
    request.onupgradeneeded = ({ oldVersion }) => {
      // An aborted first upgrade deletes the database it would have created.
      if (!create && oldVersion === 0) request.transaction.abort();
      else request.result.createObjectStore(STORE, { keyPath: 'id', autoIncrement: true });
    };
    request.onsuccess = () => resolve(request.result);
    request.onerror = (event) => {
      if (create || request.error?.name !== 'AbortError') return reject(request.error);
      event.preventDefault();
      resolve(null);
    };
  });
}

/** Runs `use` on the store in a transaction; resolves to its request's result once that commits
 *  (undefined where the database does not exist and `create` is false). */
async function inStore(mode, use, create) {
  const database = await open(create);
  if (!database) return undefined;
  try {
    const transaction = database.transaction(STORE, mode);
    const request = use(transaction.objectStore(STORE));
    return await new Promise((resolve, reject) => {
      transaction.oncomplete = () => resolve(request.result);
      transaction.onerror = () => reject(transaction.error);
      transaction.onabort = () => reject(transaction.error);
    });
  } finally {
    database.close();
  }
}

/** Every model kept, oldest first. @returns {Promise<OwnModel[]>} */
export const listModels = async () => (await inStore('readonly', (store) => store.getAll(), false)) ?? [];

/** Keeps `model`; resolves to it with its `id`. @param {OwnModel} model */
export async function keepModel(model) {
  const id = await inStore('readwrite', (store) => store.add(model), true);
  return { ...model, id };
}

/** Forgets the model with this id. @param {number} id */
export const forgetModel = (id) => inStore('readwrite', (store) => store.delete(id), false);

/** The files of a kept model, as the engine reads them. @param {OwnModel} model */
export const modelFiles = (model) => model.files.map(({ name, bytes }) => new File([bytes], name));

/** The files a person chose, as they are kept. @returns {Promise<StoredFile[]>} */
export const storedFiles = (files) =>
  Promise.all([...files].map(async (file) => ({ name: file.name, bytes: await file.arrayBuffer() })));
