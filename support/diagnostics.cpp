#include "support/diagnostics.h"

namespace cnnc {

std::string SourceLoc::str() const {
  if (!file) return "";
  std::string s = *file;
  if (line > 0) {
    s += ":" + std::to_string(line);
    if (col > 0) s += ":" + std::to_string(col);
  }
  return s;
}

SourceLoc make_file_loc(std::string path) {
  SourceLoc loc;
  loc.file = std::make_shared<const std::string>(std::move(path));
  return loc;
}

DiagnosticEngine::DiagnosticEngine(std::ostream& out, DiagnosticOptions opts)
    : out_(out), opts_(opts) {}

namespace {

const char* severity_word(Severity s) {
  switch (s) {
    case Severity::Error:
      return "error";
    case Severity::Warning:
      return "warning";
    case Severity::Note:
      return "note";
  }
  return "error";
}

void print_line(std::ostream& out, const SourceLoc& loc, Severity s, const std::string& msg) {
  std::string where = loc.str();
  if (!where.empty()) out << where << ": ";
  out << severity_word(s) << ": " << msg << "\n";
}

}  // namespace

void DiagnosticEngine::print(const Diagnostic& d) {
  print_line(out_, d.loc, d.severity, d.message);
  for (const Note& n : d.notes) print_line(out_, n.loc, Severity::Note, n.message);
  // The block instantiation chain, innermost first (as C++ template notes).
  for (const InstantiationFrame* f = d.loc.from.get(); f; f = f->at.from.get()) {
    print_line(out_, f->at, Severity::Note,
               "in instance '" + f->instance + "' of block '" + f->block + "'");
  }
  out_.flush();
}

void DiagnosticEngine::report(Diagnostic d) {
  if (d.severity == Severity::Warning && opts_.warnings_as_errors) {
    d.severity = Severity::Error;
    d.message += " [-Werror]";
  }
  if (d.severity == Severity::Error) {
    if (errors_ >= opts_.max_errors) throw DiagnosticsAbort{};
    if (errors_ == 0) first_kind_ = d.kind;
    ++errors_;
  } else if (d.severity == Severity::Warning) {
    ++warnings_;
  }
  print(d);
  all_.push_back(std::move(d));
  if (errors_ >= opts_.max_errors && all_.back().severity == Severity::Error) {
    out_ << "error: too many errors (" << errors_ << "); stopping\n";
    throw DiagnosticsAbort{};
  }
}

void DiagnosticEngine::error(const SourceLoc& loc, std::string message, std::vector<Note> notes,
                             ExitCode kind) {
  report(Diagnostic{Severity::Error, loc, std::move(message), std::move(notes), kind});
}

void DiagnosticEngine::warning(const SourceLoc& loc, std::string message, std::vector<Note> notes) {
  report(Diagnostic{Severity::Warning, loc, std::move(message), std::move(notes),
                    ExitCode::InvalidInput});
}

void DiagnosticEngine::note(const SourceLoc& loc, std::string message) {
  report(Diagnostic{Severity::Note, loc, std::move(message), {}, ExitCode::Ok});
}

void DiagnosticEngine::fatal(const SourceLoc& loc, std::string message, std::vector<Note> notes,
                             ExitCode kind) {
  error(loc, std::move(message), std::move(notes), kind);
  throw DiagnosticsAbort{};
}

void DiagnosticEngine::check() const {
  if (errors_ > 0) throw DiagnosticsAbort{};
}

}  // namespace cnnc
