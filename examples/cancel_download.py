# Cancel a download from another thread (BG95). httpDownload blocks on this model, so the
# watchdog thread is what calls download_cancel.
import fota
import _thread
import utime

PACKAGE_URL = "http://127.0.0.1:8080/app-v2.fota"
CANCEL_AFTER_S = 5


def on_progress(args):
    print("fota status", args[0], "progress", args[1])


def watchdog():
    utime.sleep(CANCEL_AFTER_S)
    print("cancel ->", updater.download_cancel())


updater = fota(reset_disable=1)
_thread.start_new_thread(watchdog, ())
ret = updater.httpDownload(url1=PACKAGE_URL, callback=on_progress)
print("httpDownload returned", ret)
