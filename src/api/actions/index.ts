import type { Action } from '../action.js';
import { getPublicKey, sign, verify } from './asymmetric.js';
import { createKey } from './create-key.js';
import { decrypt } from './decrypt.js';
import { describeKey, updateKeyDescription } from './describe-key.js';
import { getKeyPolicy, listKeyPolicies, putKeyPolicy } from './key-policies.js';
import { encrypt } from './encrypt.js';
import { generateDataKey, generateDataKeyWithoutPlaintext } from './generate-data-key.js';
import { generateDataKeyPair, generateDataKeyPairWithoutPlaintext } from './generate-data-key-pair.js';
import { generateRandom } from './generate-random.js';
import { cancelKeyDeletion, disableKey, enableKey, scheduleKeyDeletion } from './key-state.js';
import { listKeys } from './list-keys.js';
import { reEncrypt } from './re-encrypt.js';
import { createAlias, deleteAlias, listAliases, updateAlias } from './aliases.js';
import { disableKeyRotation, enableKeyRotation, getKeyRotationStatus, listKeyRotations, rotateKeyOnDemand } from './rotation.js';
import { listAuditEvents } from './audit-events.js';
import { createCredential, deleteCredential, describeCredential, disableCredential, enableCredential, listCredentials, updateCredentialPolicy } from './credentials.js';
import { listResourceTags, tagResource, untagResource } from './tags.js';
import { generateMac, verifyMac } from './mac.js';
import { batchDecrypt, batchEncrypt, batchGenerateDataKey, batchReEncrypt } from './batch.js';
import { deleteImportedKeyMaterial, getParametersForImport, importKeyMaterial } from './import-key-material.js';

/** Every action, by the name that ends its path: `/api/v1/kms/<name>`. */
export const actions: ReadonlyMap<string, Action> = new Map(
  [
    createKey,
    describeKey,
    updateKeyDescription,
    listKeys,
    enableKey,
    disableKey,
    scheduleKeyDeletion,
    cancelKeyDeletion,
    encrypt,
    decrypt,
    reEncrypt,
    generateDataKey,
    generateDataKeyWithoutPlaintext,
    generateRandom,
    rotateKeyOnDemand,
    enableKeyRotation,
    disableKeyRotation,
    getKeyRotationStatus,
    listKeyRotations,
    createAlias,
    updateAlias,
    deleteAlias,
    listAliases,
    tagResource,
    untagResource,
    listResourceTags,
    getKeyPolicy,
    listKeyPolicies,
    putKeyPolicy,
    getPublicKey,
    sign,
    verify,
    createCredential,
    listCredentials,
    describeCredential,
    updateCredentialPolicy,
    enableCredential,
    disableCredential,
    deleteCredential,
    listAuditEvents,
    generateDataKeyPair,
    generateDataKeyPairWithoutPlaintext,
    generateMac,
    verifyMac,
    getParametersForImport,
    importKeyMaterial,
    deleteImportedKeyMaterial,
    batchEncrypt,
    batchDecrypt,
    batchReEncrypt,
    batchGenerateDataKey,
  ].map((action) => [action.name, action as unknown as Action]),
);
