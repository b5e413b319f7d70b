// Package format v1: constants, manifest codec, keys, signatures, the writer, the streaming reader,
// payload interfaces and full-image codecs, policy checks, and the host apply pipeline.
export * from "./constants.js";
export { sha256, toHex, fromHex, bytesEqual, concatBytes } from "./bytes.js";
export { type RawField, type UnknownField, encodeTlv, decodeTlv } from "./tlv.js";
export {
  type Manifest,
  type Encoding,
  type ImageRef,
  type PayloadRef,
  encodeManifest,
  decodeManifest,
  encodeEncoding,
  decodeEncoding,
  manifestToJson,
  chunkCount,
} from "./manifest.js";
export {
  type TrustedKey,
  type SigningKey,
  type PublicKeyInput,
  generateSigningKey,
  loadSigningKey,
  loadTrustedKey,
  privateKeyPem,
  publicKeyPem,
  keyIdOf,
} from "./keys.js";
export { type SignatureEntry, type SignatureCheck, signedMessage, signManifest, encodeSignatureBlock, decodeSignatureBlock, verifySignatures } from "./signature.js";
export {
  type PackageHeader,
  type PackageLayout,
  type BuildPackageInput,
  type BuildFullPackageInput,
  type BuiltPackage,
  type ParsedPackage,
  encodeHeader,
  decodeHeader,
  layoutOf,
  buildPackage,
  buildFullPackage,
  encodeFullPayload,
  chooseChunkSize,
  chunkDigests,
  parsePackagePrefix,
} from "./package.js";
export {
  type RandomAccessReader,
  type PayloadDecoder,
  type FullImageDecoderOptions,
  bufferReader,
  compressImage,
  createFullImageDecoder,
  openFullImageDecoder,
} from "./payload.js";
export {
  type PackageInfo,
  type PackageReaderOptions,
  type RestoreOptions,
  type VerifiedChunk,
  type ReaderPhase,
  type PackageResult,
  PackageReader,
} from "./reader.js";
export { type ManifestPolicy, checkModel, checkSecurityCounter, checkBase, checkExpiry, checkFits, checkManifest, imageRefOf } from "./checks.js";
export { type DecoderFactory, type PackageApplierOptions, type ApplyResult, PackageApplier, applyPackage, fullOnlyDecoderFactory } from "./apply.js";
export { readFileBytes, writeKeyPair, readSigningKey, readTrustedKey, openFileReader, streamFile, writeFileAtomically } from "./files.js";
