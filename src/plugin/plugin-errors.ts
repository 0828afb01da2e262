// Errors of the reference volume plugin. Their message becomes the `Err` of the protocol reply,
// so it must name what failed (volume, option, value) and, for bad input, the accepted form.
import { DvdiError, ExitCode, type ErrorContext } from '../common/errors.js';

export type PluginErrorCode =
  | 'DVDI_PLUGIN_BAD_REQUEST'
  | 'DVDI_PLUGIN_BAD_NAME'
  | 'DVDI_PLUGIN_BAD_OPTION'
  | 'DVDI_PLUGIN_NO_SUCH_VOLUME'
  | 'DVDI_PLUGIN_VOLUME_IN_USE'
  | 'DVDI_PLUGIN_NOT_MOUNTED'
  | 'DVDI_PLUGIN_UNSAFE_PATH'
  | 'DVDI_PLUGIN_ATTACHED_ELSEWHERE'
  | 'DVDI_PLUGIN_BACKEND_FAILED'
  | 'DVDI_PLUGIN_USAGE';

export class PluginError extends DvdiError {
  declare readonly code: PluginErrorCode;
  constructor(code: PluginErrorCode, message: string, options: { context?: ErrorContext; cause?: unknown; exitCode?: ExitCode } = {}) {
    super(code, message, { exitCode: ExitCode.MountFailed, ...options });
  }
}

/** The request body could not be decoded: the server answers 400, as go-plugins-helpers does. */
export class BadRequestError extends PluginError {
  constructor(message: string, cause?: unknown) {
    super('DVDI_PLUGIN_BAD_REQUEST', message, { cause, exitCode: ExitCode.Config });
  }
}
