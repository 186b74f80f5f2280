#pragma once
// How a job reports while it runs. The pipeline never prints: it tells an Observer the stage it is
// in and how far it has come, and hands it the lines a person may want to read (an info line such
// as the regression's equation, or a warning). The command-line program's progress bar is one
// observer; a library user passes their own, or the silent one.
#include <string>
#include <utility>

namespace patchlearn {

class Observer {
 public:
  virtual ~Observer() = default;
  /// `stage` (say "simulate (patch_dynamics)") has done `fraction` (0..1) of its work.
  virtual void progress(const std::string& stage, double fraction) { (void)stage, (void)fraction; }
  /// A line about the result so far (a trained network's loss, the discovered equation).
  virtual void info(const std::string& line) { (void)line; }
  /// Something the user should know that does not stop the job (a config warning, a failed figure).
  virtual void warning(const std::string& line) { (void)line; }
};

/// Reports nothing.
inline Observer& silent_observer() {
  static Observer quiet;
  return quiet;
}

/// A job inside a job: reports the inner job's progress as `stage` of `outer`, and passes its
/// lines on.
class StageObserver : public Observer {
 public:
  StageObserver(Observer& outer, std::string stage) : outer_(outer), stage_(std::move(stage)) {}
  void progress(const std::string&, double fraction) override { outer_.progress(stage_, fraction); }
  void info(const std::string& line) override { outer_.info(line); }
  void warning(const std::string& line) override { outer_.warning(line); }

 private:
  Observer& outer_;
  std::string stage_;
};

}  // namespace patchlearn
