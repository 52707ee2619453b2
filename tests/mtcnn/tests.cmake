# The MTCNN CUDA tests call the CUDA runtime / GPU launchers directly; tests do
# not inherit KS_HAVE_CUDA from the library target, so define it here.
foreach(t test_mtcnn_cuda test_mtcnn_gpu test_nms_plugin)
  if(KS_HAVE_CUDA AND TARGET ${t})
    target_include_directories(${t} PRIVATE ${CUDAToolkit_INCLUDE_DIRS})
    target_compile_definitions(${t} PRIVATE KS_HAVE_CUDA=1)
  endif()
endforeach()

# MTCNN GPU benchmark (bench/mtcnn_bench.c; not a test). Needs the CUDA build.
if(KS_HAVE_CUDA AND EXISTS ${CMAKE_SOURCE_DIR}/bench/mtcnn_bench.c)
  add_executable(mtcnn_bench ${CMAKE_SOURCE_DIR}/bench/mtcnn_bench.c)
  target_link_libraries(mtcnn_bench PRIVATE kestrel_internal)
  target_include_directories(mtcnn_bench PRIVATE ${CMAKE_SOURCE_DIR} ${CMAKE_SOURCE_DIR}/tests)
  set_target_properties(mtcnn_bench PROPERTIES LINKER_LANGUAGE CUDA CUDA_RESOLVE_DEVICE_SYMBOLS ON)
endif()
