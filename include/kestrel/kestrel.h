/* kestrel — umbrella header (the vision API is separate: kestrel/vision.h).
 * See each header for ownership and threading. */
#ifndef KESTREL_KESTREL_H
#define KESTREL_KESTREL_H
#include "kestrel/export.h"
#include "kestrel/status.h"
#include "kestrel/context.h"
#include "kestrel/tensor.h"
#include "kestrel/model.h"
#include "kestrel/plugin.h"
#include "kestrel/engine.h"
#endif
