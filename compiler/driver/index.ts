// The driver's public surface (see compile.ts for the pipeline, pipeline.ts for the passes).
export { build, compile, compileFront, fuseFront, planFused, backendPeak, type ProgramFront, type FusedProgram, quantizedWeights, codebookWeights, sparseWeights, type BuildOptions, type BuiltBundle, type CompileOptions, type CompiledProgram } from "./compile.ts";
export { loadBackend, TARGETS, type Target } from "./backends.ts";
export { buildTrainingProgram, fuseGraph, planMemory, type MemoryOptions, type TrainingOptions, type TrainingProgram } from "./phases.ts";
export { PassRunner, type IrDumpOptions, type IrDumpSection, type PassRecord } from "./pass-runner.ts";
export { checkPassNames, PASS_NAMES, PIPELINE, type Phase, type RegisteredPass } from "./pipeline.ts";
export { quantizeModel, formatQuantizationReport, type Quantization, type QuantizationReport, type QuantizeSpec } from "./calibrate.ts";
export { codebookModel, formatCodebookReport, type Codebooks, type CodebookReport, type CodebookSpec } from "./codebook.ts";
export { sparsifyModel, formatSparsityReport, type Sparsification, type SparsityReport, type SparseSpec } from "./sparsify-weights.ts";
export { blockSparseModel, formatBlockSparseReport, SPARSE_MAX_DENSITY, TWO_FOUR_ROWS, type BlockSparsification, type BlockSparseLayerReport } from "./block-sparse-weights.ts";
