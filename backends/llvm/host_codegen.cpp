#include "backends/llvm/host_codegen.h"

#include <HalideRuntime.h>
#include <llvm/ADT/Triple.h>
#include <llvm/IR/Constants.h>
#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/LegacyPassManager.h>
#include <llvm/IR/Module.h>
#include <llvm/IR/Verifier.h>
#include <llvm/MC/TargetRegistry.h>
#include <llvm/Support/FileSystem.h>
#include <llvm/Support/TargetSelect.h>
#include <llvm/Support/raw_ostream.h>
#include <llvm/Target/TargetMachine.h>
#include <llvm/Target/TargetOptions.h>

#include <memory>
#include <mutex>

#include "runtime/cnnrt_model.h"
#include "support/internal_error.h"

namespace cnnc::llvmgen {

namespace {

constexpr const char* kTriple = "x86_64-pc-linux-gnu";
constexpr const char* kWeightsSymbol = "cnnrt_embedded_weights";

void init_llvm() {
  static std::once_flag once;
  std::call_once(once, [] {
    LLVMInitializeX86TargetInfo();
    LLVMInitializeX86Target();
    LLVMInitializeX86TargetMC();
    LLVMInitializeX86AsmPrinter();
    LLVMInitializeX86AsmParser();  // module-level asm (the weights' .incbin)
  });
}

std::unique_ptr<llvm::TargetMachine> target_machine(std::string& error) {
  init_llvm();
  const llvm::Target* t = llvm::TargetRegistry::lookupTarget(kTriple, error);
  if (!t) return nullptr;
  // Generic x86-64: the host code runs on every machine; only kernels dispatch.
  return std::unique_ptr<llvm::TargetMachine>(
      t->createTargetMachine(kTriple, "x86-64", "", llvm::TargetOptions(), llvm::Reloc::PIC_,
                             llvm::CodeModel::Small, llvm::CodeGenOpt::Default));
}

// LLVM types of the descriptor structs, field for field as cnnrt_model.h.
struct Types {
  llvm::Type *i8, *i32, *i64;
  llvm::PointerType* ptr;
  llvm::StructType *buffer, *tensor, *weight, *kernel, *model;

  explicit Types(llvm::LLVMContext& c) {
    i8 = llvm::Type::getInt8Ty(c);
    i32 = llvm::Type::getInt32Ty(c);
    i64 = llvm::Type::getInt64Ty(c);
    ptr = llvm::Type::getInt8PtrTy(c);
    auto* a4i32 = llvm::ArrayType::get(i32, CNNRT_MAX_RANK);
    auto* a4i64 = llvm::ArrayType::get(i64, CNNRT_MAX_RANK);
    buffer = llvm::StructType::create(c, {i64, i32, i32, i32, a4i32, a4i32}, "cnnrt_buffer_desc");
    tensor = llvm::StructType::create(c, {ptr, i32, a4i64, i64, i64}, "cnnrt_tensor_desc");
    weight = llvm::StructType::create(c, {ptr, i32, a4i64, i64, i64}, "cnnrt_weight_desc");
    kernel = llvm::StructType::create(c, {ptr, ptr, ptr, i64}, "cnnrt_kernel_desc");
    model = llvm::StructType::create(c, {i32, i32, i32, i32, i32, i32, ptr, ptr, ptr, i64, i64,
                                         ptr, ptr, ptr, ptr, ptr, ptr, i32, i32, i32, i32, i32},
                                     "cnnrt_model_desc");
  }
};

class Generator {
 public:
  Generator(const HostModel& host, llvm::LLVMContext& ctx, llvm::Module& mod)
      : h_(host), m_(*host.model), ctx_(ctx), mod_(mod), t_(ctx) {}

  void run() {
    if (!h_.embedded_weights_file.empty()) embed_weights();
    descriptor();
    run_function();
  }

 private:
  llvm::Constant* i32(int64_t v) {
    return llvm::ConstantInt::get(t_.i32, static_cast<uint64_t>(v), true);
  }
  llvm::Constant* i64(int64_t v) {
    return llvm::ConstantInt::get(t_.i64, static_cast<uint64_t>(v), true);
  }

  llvm::Constant* str(const std::string& s) {
    auto* data = llvm::ConstantDataArray::getString(ctx_, s, true);
    auto* g = new llvm::GlobalVariable(mod_, data->getType(), true,
                                       llvm::GlobalValue::PrivateLinkage, data, ".str");
    g->setUnnamedAddr(llvm::GlobalValue::UnnamedAddr::Global);
    return llvm::ConstantExpr::getPointerCast(g, t_.ptr);
  }

  // A private constant array of `ty`, as an i8*; NULL when empty.
  llvm::Constant* array(llvm::StructType* ty, const std::vector<llvm::Constant*>& elems,
                        const char* name) {
    if (elems.empty()) return llvm::ConstantPointerNull::get(t_.ptr);
    auto* aty = llvm::ArrayType::get(ty, elems.size());
    auto* g = new llvm::GlobalVariable(mod_, aty, true, llvm::GlobalValue::PrivateLinkage,
                                       llvm::ConstantArray::get(aty, elems), name);
    g->setAlignment(llvm::Align(8));
    return llvm::ConstantExpr::getPointerCast(g, t_.ptr);
  }

  template <class Dims>
  llvm::Constant* i64x4(const Dims& dims) {
    std::vector<llvm::Constant*> v;
    for (size_t i = 0; i < CNNRT_MAX_RANK; ++i) v.push_back(i64(i < dims.size() ? dims[i] : 0));
    return llvm::ConstantArray::get(llvm::ArrayType::get(t_.i64, CNNRT_MAX_RANK), v);
  }

  llvm::Constant* tensor(const halide::TensorInfo& t) {
    CNNC_INTERNAL_ASSERT(t.shape.size() <= CNNRT_MAX_RANK)
        << "tensor '" << t.name << "' of rank " << t.shape.size();
    return llvm::ConstantStruct::get(
        t_.tensor, {str(t.name), i32(static_cast<int64_t>(t.shape.size())), i64x4(t.shape),
                    i64(t.bytes), i64(t.arena_offset)});
  }

  // The weights: the blob file assembled into .rodata, 64-byte aligned.
  void embed_weights() {
    std::string path;
    for (char c : h_.embedded_weights_file) {
      if (c == '"' || c == '\\') path += '\\';
      path += c;
    }
    const std::string sym = kWeightsSymbol;
    mod_.appendModuleInlineAsm(
        ".pushsection .rodata.cnnc_weights,\"a\",@progbits\n"
        ".balign 64\n"
        ".hidden " +
        sym + "\n" + ".type " + sym + ",@object\n" + sym + ":\n" + ".incbin \"" + path + "\"\n" +
        ".size " + sym + ", " + std::to_string(m_.weights_bytes) + "\n" + ".popsection\n");
    weights_ = new llvm::GlobalVariable(mod_, t_.i8, true, llvm::GlobalValue::ExternalLinkage,
                                        nullptr, sym);
    weights_->setVisibility(llvm::GlobalValue::HiddenVisibility);
  }

  void descriptor() {
    std::vector<llvm::Constant*> inputs, outputs, weights, buffers, kernels;
    for (const halide::TensorInfo& t : m_.inputs) inputs.push_back(tensor(t));
    for (const halide::TensorInfo& t : m_.outputs) outputs.push_back(tensor(t));
    for (const halide::WeightTensor& w : m_.weights) {
      CNNC_INTERNAL_ASSERT(w.shape.size() <= CNNRT_MAX_RANK) << "weight '" << w.name << "'";
      int64_t elems = 1;
      for (int64_t d : w.shape) elems *= d;
      weights.push_back(llvm::ConstantStruct::get(
          t_.weight, {str(w.name), i32(static_cast<int64_t>(w.shape.size())), i64x4(w.shape),
                      i64(w.offset), i64(elems * 4)}));
    }
    auto* a4 = llvm::ArrayType::get(t_.i32, CNNRT_MAX_RANK);
    for (const halide::BufferRef& b : m_.buffers) {
      std::vector<llvm::Constant*> ext, str_;
      for (size_t i = 0; i < CNNRT_MAX_RANK; ++i) {
        ext.push_back(i32(static_cast<int>(i) < b.geometry.rank ? b.geometry.extent[i] : 0));
        str_.push_back(i32(static_cast<int>(i) < b.geometry.rank ? b.geometry.stride[i] : 0));
      }
      buffers.push_back(llvm::ConstantStruct::get(
          t_.buffer,
          {i64(b.offset), i32(static_cast<int32_t>(b.space)), i32(b.index), i32(b.geometry.rank),
           llvm::ConstantArray::get(a4, ext), llvm::ConstantArray::get(a4, str_)}));
    }
    for (const halide::KernelCall& c : m_.calls)
      kernels.push_back(llvm::ConstantStruct::get(
          t_.kernel, {str(c.layer), str(c.op), str(h_.kernel_symbols[static_cast<size_t>(c.spec)]),
                      i64(c.flops)}));
    llvm::Constant* embedded = weights_ ? llvm::ConstantExpr::getPointerCast(weights_, t_.ptr)
                                        : llvm::ConstantPointerNull::get(t_.ptr);
    auto* init = llvm::ConstantStruct::get(t_.model, {i32(CNNRT_ABI_VERSION),
                                                      i32(static_cast<int64_t>(inputs.size())),
                                                      i32(static_cast<int64_t>(outputs.size())),
                                                      i32(static_cast<int64_t>(weights.size())),
                                                      i32(static_cast<int64_t>(buffers.size())),
                                                      i32(static_cast<int64_t>(kernels.size())),
                                                      str(m_.name),
                                                      str(h_.targets),
                                                      str(halide::weights_layout(m_)),
                                                      i64(m_.arena_bytes),
                                                      i64(m_.weights_bytes),
                                                      embedded,
                                                      array(t_.tensor, inputs, "inputs"),
                                                      array(t_.tensor, outputs, "outputs"),
                                                      array(t_.weight, weights, "weights"),
                                                      array(t_.buffer, buffers, "buffers"),
                                                      array(t_.kernel, kernels, "kernels"),
                                                      i32(m_.training ? 1 : 0),
                                                      i32(m_.labels_input),
                                                      i32(m_.lr_input),
                                                      i32(m_.step_input),
                                                      i32(m_.seed_input)});
    auto* g = new llvm::GlobalVariable(mod_, t_.model, true, llvm::GlobalValue::ExternalLinkage,
                                       init, "cnnc_model_desc");
    g->setVisibility(llvm::GlobalValue::HiddenVisibility);
    g->setAlignment(llvm::Align(8));
  }

  llvm::FunctionCallee declare(const char* name, llvm::Type* ret, std::vector<llvm::Type*> args) {
    return mod_.getOrInsertFunction(name, llvm::FunctionType::get(ret, args, false));
  }

  // int cnnc_run_sized(cnnc_model* m, const float* const* in, const size_t* in_bytes,
  //                    float* const* out, const size_t* out_bytes)
  void run_function() {
    llvm::Type* voidt = llvm::Type::getVoidTy(ctx_);
    llvm::Type* pp = t_.ptr->getPointerTo();
    auto* fty = llvm::FunctionType::get(t_.i32, {t_.ptr, pp, t_.ptr, pp, t_.ptr}, false);
    auto* f =
        llvm::Function::Create(fty, llvm::GlobalValue::ExternalLinkage, "cnnc_run_sized", mod_);
    f->setVisibility(llvm::GlobalValue::DefaultVisibility);
    f->addFnAttr(llvm::Attribute::NoUnwind);
    llvm::Value* model = f->getArg(0);
    auto begin = declare("cnnrt_run_begin", t_.ptr,
                         {t_.ptr, pp, t_.ptr, pp, t_.ptr, t_.i32->getPointerTo()});
    auto end = declare("cnnrt_run_end", t_.i32, {t_.ptr, pp, t_.i32});
    auto failed = declare("cnnrt_kernel_failed", t_.i32, {t_.ptr, t_.i32, t_.i32});
    auto kbegin = declare("cnnrt_kernel_begin", voidt, {t_.ptr, t_.i32});
    auto kend = declare("cnnrt_kernel_end", voidt, {t_.ptr, t_.i32});

    llvm::IRBuilder<> b(llvm::BasicBlock::Create(ctx_, "entry", f));
    llvm::Value* status = b.CreateAlloca(t_.i32, nullptr, "status");
    llvm::Value* bufs = b.CreateCall(
        begin, {model, f->getArg(1), f->getArg(2), f->getArg(3), f->getArg(4), status}, "buffers");
    // Blocks in reading order: entry, refused, kernel0..N, kernel_failed, done.
    auto* refused = llvm::BasicBlock::Create(ctx_, "refused", f);
    auto* next = llvm::BasicBlock::Create(ctx_, "kernel0", f);
    auto* fail = llvm::BasicBlock::Create(ctx_, "kernel_failed");
    auto* done = llvm::BasicBlock::Create(ctx_, "done");
    b.CreateCondBr(b.CreateIsNull(bufs), refused, next);

    b.SetInsertPoint(refused);
    b.CreateRet(b.CreateLoad(t_.i32, status));

    struct Incoming {
      llvm::Value* rc;
      llvm::BasicBlock* from;
    };
    std::vector<Incoming> failures;
    for (size_t k = 0; k < m_.calls.size(); ++k) {
      const halide::KernelCall& c = m_.calls[k];
      b.SetInsertPoint(next);
      std::vector<llvm::Type*> params(c.buffers.size() + 1, t_.ptr);
      auto kernel = declare(h_.kernel_symbols[static_cast<size_t>(c.spec)].c_str(), t_.i32, params);
      std::vector<llvm::Value*> args{model};
      for (int32_t buf : c.buffers)
        args.push_back(b.CreateConstInBoundsGEP1_64(
            t_.i8, bufs, static_cast<uint64_t>(buf) * sizeof(halide_buffer_t)));
      b.CreateCall(kbegin, {model, i32(static_cast<int64_t>(k))});
      llvm::Value* rc = b.CreateCall(kernel, args, "rc");
      b.CreateCall(kend, {model, i32(static_cast<int64_t>(k))});
      next = llvm::BasicBlock::Create(ctx_, "kernel" + std::to_string(k + 1), f);
      failures.push_back({rc, b.GetInsertBlock()});
      b.CreateCondBr(b.CreateICmpNE(rc, i32(0)), fail, next);
    }
    b.SetInsertPoint(next);
    b.CreateStore(i32(0), status);
    b.CreateBr(done);

    if (!failures.empty()) {
      fail->insertInto(f);
      b.SetInsertPoint(fail);
      llvm::PHINode* fk = b.CreatePHI(t_.i32, static_cast<unsigned>(failures.size()), "k");
      llvm::PHINode* frc = b.CreatePHI(t_.i32, static_cast<unsigned>(failures.size()), "rc");
      for (size_t k = 0; k < failures.size(); ++k) {
        fk->addIncoming(i32(static_cast<int64_t>(k)), failures[k].from);
        frc->addIncoming(failures[k].rc, failures[k].from);
      }
      b.CreateStore(b.CreateCall(failed, {model, fk, frc}), status);
      b.CreateBr(done);
    } else {
      delete fail;
    }
    done->insertInto(f);

    b.SetInsertPoint(done);
    b.CreateRet(b.CreateCall(end, {model, f->getArg(3), b.CreateLoad(t_.i32, status)}));
  }

  const HostModel& h_;
  const halide::LoweredModel& m_;
  llvm::LLVMContext& ctx_;
  llvm::Module& mod_;
  Types t_;
  llvm::GlobalVariable* weights_ = nullptr;
};

}  // namespace

bool emit_host(const HostModel& host, HostOutput what, const std::string& path,
               std::string& error) {
  CNNC_INTERNAL_ASSERT(host.model && host.kernel_symbols.size() == host.model->specs.size())
      << "host code for a model without its kernel symbols";
  std::unique_ptr<llvm::TargetMachine> tm = target_machine(error);
  if (!tm) {
    error = "LLVM has no x86-64 target: " + error;
    return false;
  }
  llvm::LLVMContext ctx;
  llvm::Module mod("cnnc_model_" + host.model->name, ctx);
  mod.setTargetTriple(kTriple);
  mod.setDataLayout(tm->createDataLayout());
  Generator(host, ctx, mod).run();
  std::string verify;
  llvm::raw_string_ostream vs(verify);
  CNNC_INTERNAL_ASSERT(!llvm::verifyModule(mod, &vs))
      << "generated host module is invalid: " << vs.str();

  std::error_code ec;
  llvm::raw_fd_ostream out(path, ec, llvm::sys::fs::OF_None);
  if (ec) {
    error = "cannot write " + path + ": " + ec.message();
    return false;
  }
  if (what == HostOutput::LlvmIr) {
    mod.print(out, nullptr);
  } else {
    llvm::legacy::PassManager pm;
    const auto kind = what == HostOutput::Object ? llvm::CGFT_ObjectFile : llvm::CGFT_AssemblyFile;
    CNNC_INTERNAL_ASSERT(!tm->addPassesToEmitFile(pm, out, nullptr, kind))
        << "LLVM cannot emit this file type";
    pm.run(mod);
  }
  out.close();
  if (out.has_error()) {
    error = "cannot write " + path + ": " + out.error().message();
    out.clear_error();
    return false;
  }
  return true;
}

std::vector<StructLayout> descriptor_layouts() {
  std::string error;
  std::unique_ptr<llvm::TargetMachine> tm = target_machine(error);
  CNNC_INTERNAL_ASSERT(tm) << error;
  llvm::LLVMContext ctx;
  Types t(ctx);
  const llvm::DataLayout dl = tm->createDataLayout();
  std::vector<StructLayout> out;
  for (llvm::StructType* s : {t.buffer, t.tensor, t.weight, t.kernel, t.model}) {
    const llvm::StructLayout* l = dl.getStructLayout(s);
    StructLayout row;
    row.name = s->getName().str();
    row.size = l->getSizeInBytes();
    for (unsigned i = 0; i < s->getNumElements(); ++i)
      row.offsets.push_back(l->getElementOffset(i));
    out.push_back(row);
  }
  return out;
}

}  // namespace cnnc::llvmgen
