# Plugin tests: a plugin built as a shared library (public API only) that the
# tests load with ks_plugin_load_library. The test executables export the
# library's symbols (ENABLE_EXPORTS) so the plugin resolves ks_plugin_* from them.
add_library(ks_test_plugin SHARED ${CMAKE_CURRENT_LIST_DIR}/ks_test_plugin.c)
target_include_directories(ks_test_plugin PRIVATE ${CMAKE_SOURCE_DIR}/include)
set_target_properties(ks_test_plugin PROPERTIES C_VISIBILITY_PRESET hidden)
foreach(t test_plugin_library test_plugin_engine)
  if(TARGET ${t})
    add_dependencies(${t} ks_test_plugin)
    set_target_properties(${t} PROPERTIES ENABLE_EXPORTS ON)
    target_compile_definitions(${t} PRIVATE KS_TEST_PLUGIN_PATH="$<TARGET_FILE:ks_test_plugin>")
  endif()
endforeach()
if(KS_HAVE_CUDA AND TARGET test_plugin_engine)
  target_include_directories(test_plugin_engine PRIVATE ${CUDAToolkit_INCLUDE_DIRS})
endif()
# With CUDA the test plugin also has run_cuda (its kernel in a .cu of its
# own); the CUDA runtime is linked statically and kept private to the library.
if(KS_HAVE_CUDA)
  target_sources(ks_test_plugin PRIVATE ${CMAKE_CURRENT_LIST_DIR}/ks_test_plugin_cuda.cu)
  target_compile_definitions(ks_test_plugin PRIVATE KS_TEST_PLUGIN_CUDA=1)
  set_target_properties(ks_test_plugin PROPERTIES CUDA_VISIBILITY_PRESET hidden
                        CUDA_RUNTIME_LIBRARY Static)
  target_link_options(ks_test_plugin PRIVATE "LINKER:--exclude-libs,ALL")
endif()
