#include "backends/llvm/link_library.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

extern char** environ;

namespace cnnc::llvmgen {

const std::vector<std::string>& exported_api() {
  static const std::vector<std::string> api = {"cnnc_abi_version",     "cnnc_model_name",
                                               "cnnc_target",          "cnnc_num_inputs",
                                               "cnnc_num_outputs",     "cnnc_input_name",
                                               "cnnc_output_name",     "cnnc_input_rank",
                                               "cnnc_output_rank",     "cnnc_input_shape",
                                               "cnnc_output_shape",    "cnnc_input_bytes",
                                               "cnnc_output_bytes",    "cnnc_arena_bytes",
                                               "cnnc_weights_bytes",   "cnnc_weights_embedded",
                                               "cnnc_create",          "cnnc_create_with_arena",
                                               "cnnc_destroy",         "cnnc_run",
                                               "cnnc_run_sized",       "cnnc_last_error",
                                               "cnnc_set_num_threads", "cnnc_profile",
                                               "cnnc_num_kernels",     "cnnc_kernel_name",
                                               "cnnc_kernel_op",       "cnnc_kernel_flops",
                                               "cnnc_kernel_seconds",  "cnnc_profiled_runs",
                                               "cnnc_kernel_isa",      "cnnc_is_training",
                                               "cnnc_train_step",      "cnnc_train_steps",
                                               "cnnc_set_seed",        "cnnc_save_weights"};
  return api;
}

std::string runtime_archive() {
  if (const char* p = std::getenv("CNNC_RUNTIME_ARCHIVE"); p && *p) return p;
  return CNNC_RUNTIME_ARCHIVE;
}

std::string linker_driver() {
  if (const char* p = std::getenv("CNNC_CC"); p && *p) return p;
  return "cc";
}

namespace {

// Runs argv, capturing stdout and stderr into `output`; returns the exit
// status, or -1 when it could not start.
int run_capture(const std::vector<std::string>& argv, const std::string& log, std::string& output) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid;
  const int rc = posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    output = std::string("cannot run ") + argv[0] + ": " + std::strerror(rc);
    return -1;
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  std::ifstream in(log);
  std::stringstream s;
  s << in.rdbuf();
  output = s.str();
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

}  // namespace

namespace {

bool run_link(const std::vector<std::string>& argv, const LinkInputs& in, std::string& error) {
  std::string output;
  const int rc = run_capture(argv, in.work_dir + "/link.log", output);
  if (rc == 0) return true;
  std::string cmd;
  for (const std::string& a : argv) cmd += (cmd.empty() ? "" : " ") + a;
  error = rc < 0
              ? output + " (install gcc, or set CNNC_CC to a C compiler driver)"
              : "linking failed (exit " + std::to_string(rc) + "):\n" + output + "command: " + cmd;
  return false;
}

}  // namespace

bool link_relocatable_object(const LinkInputs& in, std::string& error) {
  std::vector<std::string> argv = {linker_driver(), "-r",           "-nostdlib",          "-o",
                                   in.output,       in.host_object, "-Wl,--whole-archive"};
  for (const std::string& a : in.kernel_archives) argv.push_back(a);
  argv.push_back(in.halide_runtime);
  argv.push_back(runtime_archive());
  argv.push_back("-Wl,--no-whole-archive");
  return run_link(argv, in, error);
}

bool link_shared_library(const LinkInputs& in, std::string& error) {
  const std::string script = in.work_dir + "/exports.map";
  {
    std::ofstream vs(script);
    vs << "{\n  global:\n";
    for (const std::string& f : exported_api()) vs << "    " << f << ";\n";
    vs << "  local: *;\n};\n";
    if (!vs) {
      error = "cannot write " + script;
      return false;
    }
  }
  std::vector<std::string> argv = {linker_driver(),
                                   "-shared",
                                   "-o",
                                   in.output,
                                   "-Wl,--version-script=" + script,
                                   "-Wl,-z,noexecstack",
                                   "-Wl,--no-undefined",
                                   "-Wl,--gc-sections",
                                   in.host_object};
  for (const std::string& a : in.kernel_archives) argv.push_back(a);
  argv.push_back(in.halide_runtime);
  // Every API function lives in libcnnrt, referenced by no object: take it whole.
  argv.push_back("-Wl,--whole-archive");
  argv.push_back(runtime_archive());
  argv.push_back("-Wl,--no-whole-archive");
  for (const char* lib : {"-lm", "-lpthread", "-ldl"}) argv.push_back(lib);
  return run_link(argv, in, error);
}

}  // namespace cnnc::llvmgen
